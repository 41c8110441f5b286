-- The native flavour's price_1h refresh (tracera_pipeline/storage/sql/
-- refresh_1h_from_raw.sql) computes the same exact time sums for about half the
-- cost, as the TimescaleDB flavour's continuous aggregate now does; the stored
-- values and the tables do not change. Recorded here so both flavours stay at
-- one schema version.
COMMENT ON TABLE price_1h IS
    'Hourly aggregates per item and market; time sums exact, t = seconds since 2000-01-03 UTC';
