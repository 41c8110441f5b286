-- Native flavour: recompute the 1h buckets in [lo, hi) from raw rows, per item
-- and market. Values match the price_1h continuous aggregate exactly
-- (t = seconds since the bucket origin, 2000-01-03 UTC).
--
-- The time sums are exact and cheap: each sample's offset from the middle of its
-- hour, s in whole microseconds (|s| <= 1.8e9), keeps s², s·price and their sums
-- in 64-bit integers with 128-bit accumulators (price <= 1e9 cents, see
-- validation); numeric, which per-row t² needs, is used once per bucket, with
-- t = c + s/1e6 (c = the middle of the hour in seconds):
--   Σt = n·c + Σs/1e6    Σt² = n·c² + 2c·Σs/1e6 + Σs²/1e12    Σt·x = c·Σx + Σs·x/1e6
INSERT INTO {target} (
    bucket, item_id, provider_id, samples, sum_cents, sum_sq_cents,
    sum_t, sum_t_sq, sum_t_cents, min_cents, max_cents, total_volume,
    avg_cents, stddev_cents
)
SELECT
    bucket, item_id, provider_id, n, sx, sxx,
    n * c + ss * 0.000001,
    n * c * c + 2 * c * ss * 0.000001 + sss * 0.000000000001,
    c * sx + ssx * 0.000001,
    min_cents, max_cents, total_volume,
    (sx / n)::double precision,
    CASE WHEN n > 1 THEN sqrt(greatest((sxx - sx * sx / n) / (n - 1), 0))::double precision END
FROM (
    SELECT
        bucket, item_id, provider_id,
        extract(epoch FROM bucket - %(origin)s) + 1800 AS c,
        count(*) AS n,
        sum(price_cents)::numeric AS sx,
        sum(price_cents * price_cents) AS sxx,
        sum(s) AS ss,
        sum(s * s) AS sss,
        sum(s * price_cents) AS ssx,
        min(price_cents) AS min_cents,
        max(price_cents) AS max_cents,
        sum(volume)::bigint AS total_volume
    FROM (
        SELECT date_bin(%(width)s, time, %(origin)s) AS bucket, item_id, provider_id,
               price_cents, volume,
               round(date_part('epoch', time - date_bin(%(width)s, time, %(origin)s)
                               - INTERVAL '30 minutes') * 1000000)::bigint AS s
        FROM price_history
        WHERE time >= %(lo)s AND time < %(hi)s
    ) AS raw
    GROUP BY bucket, item_id, provider_id
) AS buckets
