-- Hours in [lo, hi) where some market's raw rows differ from what its 1h bucket
-- holds (row count or price sum): raw data there is not (fully, or no longer)
-- aggregated. The sum catches a re-ingested hour with the same row count.
WITH raw AS (
    SELECT date_bin(INTERVAL '1 hour', time, %(origin)s) AS bucket, provider_id,
           count(*) AS n, sum(price_cents)::numeric AS total
    FROM price_history
    WHERE time >= %(lo)s AND time < %(hi)s
    GROUP BY 1, 2
), aggregated AS (
    SELECT bucket, provider_id, sum(samples) AS n, sum(sum_cents) AS total
    FROM price_1h
    WHERE bucket >= %(lo)s AND bucket < %(hi)s AND provider_id <> 0
    GROUP BY 1, 2
)
SELECT DISTINCT raw.bucket
FROM raw LEFT JOIN aggregated USING (bucket, provider_id)
WHERE aggregated.n IS DISTINCT FROM raw.n OR aggregated.total IS DISTINCT FROM raw.total
ORDER BY 1
