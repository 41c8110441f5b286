-- Hours in [lo, hi) whose raw row count differs from the samples the 1h
-- aggregate holds: raw data there is not (fully) aggregated yet.
WITH raw AS (
    SELECT date_bin(INTERVAL '1 hour', time, %(origin)s) AS bucket, count(*) AS n
    FROM price_history
    WHERE time >= %(lo)s AND time < %(hi)s
    GROUP BY 1
), aggregated AS (
    SELECT bucket, sum(samples) AS n
    FROM price_1h
    WHERE bucket >= %(lo)s AND bucket < %(hi)s
    GROUP BY 1
)
SELECT raw.bucket
FROM raw LEFT JOIN aggregated USING (bucket)
WHERE aggregated.n IS DISTINCT FROM raw.n
ORDER BY 1
