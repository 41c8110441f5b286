-- Native flavour: recompute coarser buckets in [lo, hi) from the finer level
-- (24h from 1h, 7d from 24h), per item and market. Counts and sums add up, so
-- avg, stddev and the trend sums are exact; expressions match the TimescaleDB
-- hierarchical aggregates.
INSERT INTO {target} (
    bucket, item_id, provider_id, samples, sum_cents, sum_sq_cents,
    sum_t, sum_t_sq, sum_t_cents, min_cents, max_cents, total_volume,
    avg_cents, stddev_cents
)
SELECT
    date_bin(%(width)s, bucket, %(origin)s) AS bucket,
    item_id,
    provider_id,
    sum(samples)::bigint,
    sum(sum_cents),
    sum(sum_sq_cents),
    sum(sum_t),
    sum(sum_t_sq),
    sum(sum_t_cents),
    min(min_cents),
    max(max_cents),
    sum(total_volume)::bigint,
    (sum(sum_cents) / sum(samples))::double precision,
    CASE WHEN sum(samples) > 1 THEN sqrt(greatest(
        (sum(sum_sq_cents) - sum(sum_cents) * sum(sum_cents) / sum(samples))
        / (sum(samples) - 1), 0))::double precision
    END
FROM {source}
WHERE bucket >= %(lo)s AND bucket < %(hi)s
GROUP BY 1, 2, 3
