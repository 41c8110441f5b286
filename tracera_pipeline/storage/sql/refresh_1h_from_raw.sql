-- Native flavour: recompute the 1h buckets in [lo, hi) from raw rows, per item
-- and market. Expressions match the price_1h continuous aggregate exactly
-- (t = seconds since the bucket origin, 2000-01-03 UTC).
INSERT INTO {target} (
    bucket, item_id, provider_id, samples, sum_cents, sum_sq_cents,
    sum_t, sum_t_sq, sum_t_cents, min_cents, max_cents, total_volume,
    avg_cents, stddev_cents
)
SELECT
    date_bin(%(width)s, time, %(origin)s) AS bucket,
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
    SELECT time, item_id, provider_id, price_cents, volume,
           extract(epoch FROM time - %(origin)s) AS t
    FROM price_history
    WHERE time >= %(lo)s AND time < %(hi)s
) AS raw
GROUP BY 1, 2, 3
