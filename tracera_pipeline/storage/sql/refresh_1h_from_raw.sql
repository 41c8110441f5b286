-- Native flavour: recompute the 1h buckets in [lo, hi) from raw rows.
-- Expressions match the price_1h continuous aggregate exactly.
INSERT INTO {target} (
    bucket, item_id, samples, sum_cents, sum_sq_cents, min_cents, max_cents,
    total_volume, avg_cents, stddev_cents
)
SELECT
    date_bin(%(width)s, time, %(origin)s) AS bucket,
    item_id,
    count(*),
    sum(price_cents)::numeric,
    sum(price_cents::numeric * price_cents),
    min(price_cents),
    max(price_cents),
    sum(volume)::bigint,
    (sum(price_cents)::numeric / count(*))::double precision,
    CASE WHEN count(*) > 1 THEN sqrt(greatest(
        (sum(price_cents::numeric * price_cents)
         - sum(price_cents)::numeric * sum(price_cents)::numeric / count(*))
        / (count(*) - 1), 0))::double precision
    END
FROM price_history
WHERE time >= %(lo)s AND time < %(hi)s
GROUP BY 1, 2
