-- 1h/24h/7d continuous aggregates, hierarchical: 24h is built on 1h and 7d on
-- 24h, so a refresh never rescans a week of raw rows. They keep count, sum and
-- sum of squares so stddev combines exactly; the columns and expressions match
-- the native tables one for one. Refreshed by the aggregate assets for exactly
-- the buckets a partition touches (no background policy).
CREATE MATERIALIZED VIEW price_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    time_bucket(INTERVAL '1 hour', time) AS bucket,
    item_id,
    count(*) AS samples,
    sum(price_cents)::numeric AS sum_cents,
    sum(price_cents::numeric * price_cents) AS sum_sq_cents,
    min(price_cents) AS min_cents,
    max(price_cents) AS max_cents,
    sum(volume)::bigint AS total_volume,
    (sum(price_cents)::numeric / count(*))::double precision AS avg_cents,
    CASE WHEN count(*) > 1 THEN sqrt(greatest(
        (sum(price_cents::numeric * price_cents)
         - sum(price_cents)::numeric * sum(price_cents)::numeric / count(*))
        / (count(*) - 1), 0))::double precision
    END AS stddev_cents
FROM price_history
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW price_24h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    time_bucket(INTERVAL '24 hours', bucket) AS bucket,
    item_id,
    sum(samples)::bigint AS samples,
    sum(sum_cents) AS sum_cents,
    sum(sum_sq_cents) AS sum_sq_cents,
    min(min_cents) AS min_cents,
    max(max_cents) AS max_cents,
    sum(total_volume)::bigint AS total_volume,
    (sum(sum_cents) / sum(samples))::double precision AS avg_cents,
    CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
        (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
        / (sum(samples) - 1), 0))::double precision
    END AS stddev_cents
FROM price_1h
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW price_7d
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    time_bucket(INTERVAL '7 days', bucket) AS bucket,
    item_id,
    sum(samples)::bigint AS samples,
    sum(sum_cents) AS sum_cents,
    sum(sum_sq_cents) AS sum_sq_cents,
    min(min_cents) AS min_cents,
    max(max_cents) AS max_cents,
    sum(total_volume)::bigint AS total_volume,
    (sum(sum_cents) / sum(samples))::double precision AS avg_cents,
    CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
        (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
        / (sum(samples) - 1), 0))::double precision
    END AS stddev_cents
FROM price_24h
GROUP BY 1, 2
WITH NO DATA;
