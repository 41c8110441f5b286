-- Volatility per item and window, as of each partition end (history kept, so a
-- backfill yields point-in-time metrics). Rankings in Redis read the newest.
CREATE TABLE item_volatility (
    window_name              text             NOT NULL CHECK (window_name IN ('1h', '24h', '7d')),
    as_of                    timestamptz      NOT NULL,
    item_id                  integer          NOT NULL REFERENCES items,
    buckets                  integer          NOT NULL,
    last_avg_cents           double precision NOT NULL,
    sma_cents                double precision NOT NULL,
    stddev_cents             double precision,
    pct_change               double precision,
    bollinger_upper_cents    double precision,
    bollinger_lower_cents    double precision,
    coefficient_of_variation double precision,
    trend_slope_cents        double precision,
    PRIMARY KEY (window_name, as_of, item_id)
);

-- Value of every portfolio at each partition end.
CREATE TABLE portfolio_snapshots (
    time          timestamptz NOT NULL,
    portfolio_id  integer     NOT NULL REFERENCES portfolios ON DELETE CASCADE,
    value_cents   bigint      NOT NULL,
    items_held    integer     NOT NULL,
    items_priced  integer     NOT NULL,
    PRIMARY KEY (portfolio_id, time)
);
