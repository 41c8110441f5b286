-- On TimescaleDB the snapshots are a hypertable (monthly chunks: few rows a day).
SELECT create_hypertable(
    'portfolio_snapshots',
    by_range('time', INTERVAL '30 days'),
    migrate_data => true
);
