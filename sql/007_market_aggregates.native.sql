-- Aggregates per item AND market (provider), native flavour. Besides count, sum
-- and sum of squares of the price they keep the sums of t, t² and t·price
-- (t = seconds since 2000-01-03 UTC), so the least-squares trend over any window
-- combines exactly from buckets too.
--
-- Upgrade in place: every bucket whose raw rows still exist is recomputed per
-- market from price_history; a bucket whose raw rows retention already dropped
-- is carried over under the market `legacy` (it blended every market and cannot
-- be split). The old tables go once their content is carried over.
ALTER TABLE price_1h RENAME TO price_1h_v1;
ALTER TABLE price_24h RENAME TO price_24h_v1;
ALTER TABLE price_7d RENAME TO price_7d_v1;
ALTER INDEX price_1h_pkey RENAME TO price_1h_v1_pkey;
ALTER INDEX price_24h_pkey RENAME TO price_24h_v1_pkey;
ALTER INDEX price_7d_pkey RENAME TO price_7d_v1_pkey;

CREATE TABLE price_1h (
    bucket        timestamptz      NOT NULL,
    item_id       integer          NOT NULL,
    provider_id   smallint         NOT NULL,
    samples       bigint           NOT NULL,
    sum_cents     numeric          NOT NULL,
    sum_sq_cents  numeric          NOT NULL,
    sum_t         numeric,
    sum_t_sq      numeric,
    sum_t_cents   numeric,
    min_cents     bigint           NOT NULL,
    max_cents     bigint           NOT NULL,
    total_volume  bigint,
    avg_cents     double precision NOT NULL,
    stddev_cents  double precision,
    PRIMARY KEY (bucket, item_id, provider_id)
);
CREATE TABLE price_24h (LIKE price_1h INCLUDING ALL);
CREATE TABLE price_7d (LIKE price_1h INCLUDING ALL);

INSERT INTO price_1h
SELECT
    date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '2000-01-03 00:00:00+00'),
    item_id,
    provider_id,
    count(*),
    sum(price_cents)::numeric,
    sum(price_cents::numeric * price_cents),
    sum(t),
    sum(t * t),
    sum(t * price_cents),
    min(price_cents),
    max(price_cents),
    sum(volume)::bigint,
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
GROUP BY 1, 2, 3;

INSERT INTO price_1h (
    bucket, item_id, provider_id, samples, sum_cents, sum_sq_cents,
    min_cents, max_cents, total_volume, avg_cents, stddev_cents
)
SELECT
    old.bucket, old.item_id, 0, old.samples, old.sum_cents, old.sum_sq_cents,
    old.min_cents, old.max_cents, old.total_volume, old.avg_cents, old.stddev_cents
FROM price_1h_v1 AS old
WHERE old.bucket NOT IN (SELECT DISTINCT bucket FROM price_1h);

INSERT INTO price_24h
SELECT
    date_bin(INTERVAL '24 hours', bucket, TIMESTAMPTZ '2000-01-03 00:00:00+00'),
    item_id, provider_id,
    sum(samples)::bigint, sum(sum_cents), sum(sum_sq_cents),
    sum(sum_t), sum(sum_t_sq), sum(sum_t_cents),
    min(min_cents), max(max_cents), sum(total_volume)::bigint,
    (sum(sum_cents) / sum(samples))::double precision,
    CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
        (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
        / (sum(samples) - 1), 0))::double precision
    END
FROM price_1h
GROUP BY 1, 2, 3;

INSERT INTO price_7d
SELECT
    date_bin(INTERVAL '7 days', bucket, TIMESTAMPTZ '2000-01-03 00:00:00+00'),
    item_id, provider_id,
    sum(samples)::bigint, sum(sum_cents), sum(sum_sq_cents),
    sum(sum_t), sum(sum_t_sq), sum(sum_t_cents),
    min(min_cents), max(max_cents), sum(total_volume)::bigint,
    (sum(sum_cents) / sum(samples))::double precision,
    CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
        (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
        / (sum(samples) - 1), 0))::double precision
    END
FROM price_24h
GROUP BY 1, 2, 3;

DROP TABLE price_1h_v1, price_24h_v1, price_7d_v1;
