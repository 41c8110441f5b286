-- price_1h computes the same exact time sums (t = seconds since 2000-01-03 UTC)
-- for about half the cost: per sample, its offset s from the middle of its hour
-- in whole microseconds (|s| <= 1.8e9), so s², s·price and their sums stay in
-- 64-bit integers with 128-bit accumulators (price <= 1e9 cents, see validation);
-- numeric is used once per bucket, with t = c + s/1e6, c = the hour's middle:
--   Σt = n·c + Σs/1e6    Σt² = n·c² + 2c·Σs/1e6 + Σs²/1e12    Σt·x = c·Σx + Σs·x/1e6
-- The stored values do not change, so every materialized row is carried over
-- as it is (the native flavour's refresh SQL changed the same way; its tables
-- are untouched). 24h and 7d are built on 1h and are recreated unchanged.
CREATE TEMPORARY TABLE kept_1h ON COMMIT DROP AS SELECT * FROM price_1h;
CREATE TEMPORARY TABLE kept_24h ON COMMIT DROP AS SELECT * FROM price_24h;
CREATE TEMPORARY TABLE kept_7d ON COMMIT DROP AS SELECT * FROM price_7d;

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
    sum(price_cents * price_cents) AS sum_sq_cents,
    count(*) * (extract(epoch FROM time_bucket(INTERVAL '1 hour', time) - TIMESTAMPTZ '2000-01-03 00:00:00+00') + 1800)
        + sum(round(date_part('epoch', time - time_bucket(INTERVAL '1 hour', time)
                    - INTERVAL '30 minutes') * 1000000)::bigint) * 0.000001 AS sum_t,
    count(*) * (extract(epoch FROM time_bucket(INTERVAL '1 hour', time) - TIMESTAMPTZ '2000-01-03 00:00:00+00') + 1800) * (extract(epoch FROM time_bucket(INTERVAL '1 hour', time) - TIMESTAMPTZ '2000-01-03 00:00:00+00') + 1800)
        + 2 * (extract(epoch FROM time_bucket(INTERVAL '1 hour', time) - TIMESTAMPTZ '2000-01-03 00:00:00+00') + 1800)
            * sum(round(date_part('epoch', time - time_bucket(INTERVAL '1 hour', time)
                    - INTERVAL '30 minutes') * 1000000)::bigint) * 0.000001
        + sum(round(date_part('epoch', time - time_bucket(INTERVAL '1 hour', time)
                    - INTERVAL '30 minutes') * 1000000)::bigint
              * round(date_part('epoch', time - time_bucket(INTERVAL '1 hour', time)
                    - INTERVAL '30 minutes') * 1000000)::bigint) * 0.000000000001 AS sum_t_sq,
    (extract(epoch FROM time_bucket(INTERVAL '1 hour', time) - TIMESTAMPTZ '2000-01-03 00:00:00+00') + 1800) * sum(price_cents)
        + sum(round(date_part('epoch', time - time_bucket(INTERVAL '1 hour', time)
                    - INTERVAL '30 minutes') * 1000000)::bigint * price_cents) * 0.000001 AS sum_t_cents,
    min(price_cents) AS min_cents,
    max(price_cents) AS max_cents,
    sum(volume)::bigint AS total_volume,
    (sum(price_cents)::numeric / count(*))::double precision AS avg_cents,
    CASE WHEN count(*) > 1 THEN sqrt(greatest(
        (sum(price_cents * price_cents)
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

-- Carry the rows over into the new materialization hypertables (a refresh would
-- erase buckets whose raw rows retention already dropped).
DO $migration$
DECLARE
    aggregate text;
    target regclass;
BEGIN
    FOREACH aggregate IN ARRAY ARRAY['price_1h', 'price_24h', 'price_7d'] LOOP
        SELECT format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name)
          INTO target
          FROM timescaledb_information.continuous_aggregates c
         WHERE c.view_name = aggregate;
        EXECUTE format(
            'INSERT INTO %s (bucket, item_id, provider_id, samples, sum_cents, sum_sq_cents,'
            ' sum_t, sum_t_sq, sum_t_cents, min_cents, max_cents, total_volume, avg_cents,'
            ' stddev_cents)'
            ' SELECT bucket, item_id, provider_id, samples, sum_cents, sum_sq_cents,'
            ' sum_t, sum_t_sq, sum_t_cents, min_cents, max_cents, total_volume, avg_cents,'
            ' stddev_cents FROM %I',
            target, 'kept_' || substr(aggregate, 7));
    END LOOP;
END
$migration$;
