-- Volatility of each item over the last %(lookback)s of complete buckets of
-- {source}, as of each time in %(as_of)s. σ is the sample standard deviation of
-- the bucket averages; Bollinger bands are SMA ± 2σ; the trend slope is the
-- least-squares slope of the bucket averages in cents per bucket.
INSERT INTO item_volatility (
    window_name, as_of, item_id, buckets, last_avg_cents, sma_cents, stddev_cents,
    pct_change, bollinger_upper_cents, bollinger_lower_cents,
    coefficient_of_variation, trend_slope_cents
)
SELECT
    %(window)s,
    as_of,
    item_id,
    buckets,
    last_avg,
    sma,
    sigma,
    CASE WHEN previous_avg > 0 THEN (last_avg - previous_avg) / previous_avg * 100 END,
    sma + 2 * sigma,
    sma - 2 * sigma,
    CASE WHEN sma > 0 THEN sigma / sma END,
    slope
FROM (
    SELECT
        t.as_of,
        a.item_id,
        count(*)::integer AS buckets,
        (array_agg(a.avg_cents ORDER BY a.bucket DESC))[1] AS last_avg,
        (array_agg(a.avg_cents ORDER BY a.bucket DESC))[2] AS previous_avg,
        avg(a.avg_cents) AS sma,
        stddev_samp(a.avg_cents) AS sigma,
        regr_slope(a.avg_cents, extract(epoch FROM a.bucket) / extract(epoch FROM %(width)s)) AS slope
    FROM unnest(%(as_of)s::timestamptz[]) AS t(as_of)
    JOIN {source} AS a
      ON a.bucket >= t.as_of - %(lookback)s
     AND a.bucket + %(width)s <= t.as_of
    GROUP BY t.as_of, a.item_id
) AS per_item
ON CONFLICT (window_name, as_of, item_id) DO UPDATE SET
    buckets = EXCLUDED.buckets,
    last_avg_cents = EXCLUDED.last_avg_cents,
    sma_cents = EXCLUDED.sma_cents,
    stddev_cents = EXCLUDED.stddev_cents,
    pct_change = EXCLUDED.pct_change,
    bollinger_upper_cents = EXCLUDED.bollinger_upper_cents,
    bollinger_lower_cents = EXCLUDED.bollinger_lower_cents,
    coefficient_of_variation = EXCLUDED.coefficient_of_variation,
    trend_slope_cents = EXCLUDED.trend_slope_cents
