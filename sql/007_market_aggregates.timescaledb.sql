-- Continuous aggregates per item AND market (provider), hierarchical as before
-- (24h on 1h, 7d on 24h). Besides count, sum and sum of squares of the price they
-- keep the sums of t, t² and t·price (t = seconds since 2000-01-03 UTC), so the
-- least-squares trend over any window combines exactly from buckets too.
--
-- Upgrade in place: every bucket whose raw rows still exist is recomputed per
-- market from price_history; a bucket whose raw rows retention already dropped
-- is carried over under the market `legacy` (it blended every market and cannot
-- be split). Both go straight into the new aggregates' materialization
-- hypertables: refresh_continuous_aggregate cannot run inside a migration's
-- transaction, and refreshing would erase the carried-over buckets anyway (the
-- aggregate refreshes never go below the retention watermark for that reason).
CREATE TEMPORARY TABLE legacy_1h ON COMMIT DROP AS
SELECT * FROM price_1h;

DROP MATERIALIZED VIEW price_7d;
DROP MATERIALIZED VIEW price_24h;
DROP MATERIALIZED VIEW price_1h;

CREATE MATERIALIZED VIEW price_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    time_bucket(INTERVAL '1 hour', time) AS bucket,
    item_id,
    provider_id,
    count(*) AS samples,
    sum(price_cents)::numeric AS sum_cents,
    sum(price_cents::numeric * price_cents) AS sum_sq_cents,
    sum(extract(epoch FROM time - TIMESTAMPTZ '2000-01-03 00:00:00+00')) AS sum_t,
    sum(extract(epoch FROM time - TIMESTAMPTZ '2000-01-03 00:00:00+00')
        * extract(epoch FROM time - TIMESTAMPTZ '2000-01-03 00:00:00+00')) AS sum_t_sq,
    sum(extract(epoch FROM time - TIMESTAMPTZ '2000-01-03 00:00:00+00') * price_cents)
        AS sum_t_cents,
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
GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW price_24h
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    time_bucket(INTERVAL '24 hours', bucket) AS bucket,
    item_id,
    provider_id,
    sum(samples)::bigint AS samples,
    sum(sum_cents) AS sum_cents,
    sum(sum_sq_cents) AS sum_sq_cents,
    sum(sum_t) AS sum_t,
    sum(sum_t_sq) AS sum_t_sq,
    sum(sum_t_cents) AS sum_t_cents,
    min(min_cents) AS min_cents,
    max(max_cents) AS max_cents,
    sum(total_volume)::bigint AS total_volume,
    (sum(sum_cents) / sum(samples))::double precision AS avg_cents,
    CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
        (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
        / (sum(samples) - 1), 0))::double precision
    END AS stddev_cents
FROM price_1h
GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW price_7d
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT
    time_bucket(INTERVAL '7 days', bucket) AS bucket,
    item_id,
    provider_id,
    sum(samples)::bigint AS samples,
    sum(sum_cents) AS sum_cents,
    sum(sum_sq_cents) AS sum_sq_cents,
    sum(sum_t) AS sum_t,
    sum(sum_t_sq) AS sum_t_sq,
    sum(sum_t_cents) AS sum_t_cents,
    min(min_cents) AS min_cents,
    max(max_cents) AS max_cents,
    sum(total_volume)::bigint AS total_volume,
    (sum(sum_cents) / sum(samples))::double precision AS avg_cents,
    CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
        (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
        / (sum(samples) - 1), 0))::double precision
    END AS stddev_cents
FROM price_24h
GROUP BY 1, 2, 3
WITH NO DATA;

-- Fill the new aggregates level by level. Each SELECT is the view's own query
-- (materialized_only views read just their materialization hypertable, so the
-- 24h level sees the 1h rows inserted before it).
DO $migration$
DECLARE
    mat_1h regclass;
    mat_24h regclass;
    mat_7d regclass;
    rollup constant text := $sql$
        INSERT INTO %s
        SELECT
            time_bucket(%L::interval, bucket), item_id, provider_id,
            sum(samples)::bigint, sum(sum_cents), sum(sum_sq_cents),
            sum(sum_t), sum(sum_t_sq), sum(sum_t_cents),
            min(min_cents), max(max_cents), sum(total_volume)::bigint,
            (sum(sum_cents) / sum(samples))::double precision,
            CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
                (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
                / (sum(samples) - 1), 0))::double precision
            END
        FROM %I
        GROUP BY 1, 2, 3 $sql$;
BEGIN
    SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
      INTO mat_1h FROM timescaledb_information.continuous_aggregates WHERE view_name = 'price_1h';
    SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
      INTO mat_24h FROM timescaledb_information.continuous_aggregates WHERE view_name = 'price_24h';
    SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
      INTO mat_7d FROM timescaledb_information.continuous_aggregates WHERE view_name = 'price_7d';

    EXECUTE format($sql$
        INSERT INTO %s
        SELECT
            time_bucket(INTERVAL '1 hour', time), item_id, provider_id, count(*),
            sum(price_cents)::numeric, sum(price_cents::numeric * price_cents),
            sum(t), sum(t * t), sum(t * price_cents),
            min(price_cents), max(price_cents), sum(volume)::bigint,
            (sum(price_cents)::numeric / count(*))::double precision,
            CASE WHEN count(*) > 1 THEN sqrt(greatest(
                (sum(price_cents::numeric * price_cents)
                 - sum(price_cents)::numeric * sum(price_cents)::numeric / count(*))
                / (count(*) - 1), 0))::double precision
            END
        FROM (
            SELECT *, extract(epoch FROM time - TIMESTAMPTZ '2000-01-03 00:00:00+00') AS t
            FROM price_history
        ) AS raw
        GROUP BY 1, 2, 3 $sql$, mat_1h);
    EXECUTE format($sql$
        INSERT INTO %s (
            bucket, item_id, provider_id, samples, sum_cents, sum_sq_cents,
            min_cents, max_cents, total_volume, avg_cents, stddev_cents)
        SELECT bucket, item_id, 0, samples, sum_cents, sum_sq_cents,
               min_cents, max_cents, total_volume, avg_cents, stddev_cents
        FROM legacy_1h
        WHERE bucket NOT IN (SELECT DISTINCT bucket FROM %s) $sql$, mat_1h, mat_1h);
    EXECUTE format(rollup, mat_24h, '24 hours', 'price_1h');
    EXECUTE format(rollup, mat_7d, '7 days', 'price_24h');
END
$migration$;
