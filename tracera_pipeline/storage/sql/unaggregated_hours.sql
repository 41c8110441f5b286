-- Hours in [lo, hi) where some market's raw rows differ from what its 1h buckets
-- hold: raw data there is not (fully, or no longer) aggregated.
--
-- Compared per hour and market, with a checksum of sums both sides hold exactly
-- (numeric, the same expressions as the aggregates): row count, Σ price, Σ price²,
-- Σ t·price (t = seconds since the bucket origin), Σ volume, and Σ item_id·price
-- and Σ item_id. A re-ingested hour with the same row count and price sum still
-- differs in one of them when a price changed, moved to another item or to
-- another time (count + sum alone missed all three).
WITH raw AS (
    -- Per row only 64-bit integer math, summed in 128-bit accumulators (as in the
    -- 1h refresh): Σ t·price = c·Σ price + Σ s·price / 1e6, with s the sample's
    -- offset in microseconds from the middle of its hour and c that middle.
    SELECT bucket, provider_id,
           count(*) AS n,
           sum(price_cents)::numeric AS total,
           sum(price_cents * price_cents) AS total_sq,
           (extract(epoch FROM bucket - %(origin)s) + 1800) * sum(price_cents)
               + sum(s * price_cents) * 0.000001 AS total_t,
           sum(volume)::bigint AS volume,
           sum(item_id::bigint * price_cents) AS item_weighted,
           sum(item_id::bigint) AS item_count
    FROM (
        SELECT date_bin(INTERVAL '1 hour', time, %(origin)s) AS bucket, provider_id,
               item_id, price_cents, volume,
               round(date_part('epoch', time - date_bin(INTERVAL '1 hour', time, %(origin)s)
                               - INTERVAL '30 minutes') * 1000000)::bigint AS s
        FROM price_history
        WHERE time >= %(lo)s AND time < %(hi)s
    ) AS samples
    GROUP BY 1, 2
), aggregated AS (
    SELECT bucket, provider_id,
           sum(samples) AS n,
           sum(sum_cents) AS total,
           sum(sum_sq_cents) AS total_sq,
           sum(sum_t_cents) AS total_t,
           sum(total_volume)::bigint AS volume,
           sum(item_id::numeric * sum_cents) AS item_weighted,
           sum(item_id::bigint * samples) AS item_count
    FROM price_1h
    WHERE bucket >= %(lo)s AND bucket < %(hi)s AND provider_id <> 0
    GROUP BY 1, 2
)
SELECT DISTINCT raw.bucket
FROM raw LEFT JOIN aggregated USING (bucket, provider_id)
WHERE (aggregated.n, aggregated.total, aggregated.total_sq, aggregated.total_t,
       aggregated.volume, aggregated.item_weighted, aggregated.item_count)
      IS DISTINCT FROM
      (raw.n, raw.total, raw.total_sq, raw.total_t, raw.volume, raw.item_weighted,
       raw.item_count)
ORDER BY 1
