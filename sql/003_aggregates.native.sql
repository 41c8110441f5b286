-- 1h/24h/7d aggregates on plain PostgreSQL: tables refreshed by the aggregate
-- assets (see tracera_pipeline/storage/sql/refresh_*.sql). They keep count, sum
-- and sum of squares so a coarser level rolls up from the finer one exactly:
-- 24h is built from 1h and 7d from 24h, never from a week of raw rows.
-- Columns and expressions match the TimescaleDB continuous aggregates one for
-- one, so both flavours answer every query identically.
CREATE TABLE price_1h (
    bucket        timestamptz      NOT NULL,
    item_id       integer          NOT NULL,
    samples       bigint           NOT NULL,
    sum_cents     numeric          NOT NULL,
    sum_sq_cents  numeric          NOT NULL,
    min_cents     bigint           NOT NULL,
    max_cents     bigint           NOT NULL,
    total_volume  bigint,
    avg_cents     double precision NOT NULL,
    stddev_cents  double precision,
    PRIMARY KEY (bucket, item_id)
);

CREATE TABLE price_24h (LIKE price_1h INCLUDING ALL);
CREATE TABLE price_7d (LIKE price_1h INCLUDING ALL);
