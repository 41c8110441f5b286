-- Sliding-window volatility per item and market: for the window W and each as-of
-- time T (an hour boundary), the samples in [T - W, T), combined exactly from the
-- 1h buckets' count, sums of price, price², t, t² and t·price:
--   mean μ = Σx/N            σ = √(Σ(x−μ)²/N) = √(NΣx² − (Σx)²)/N   (population)
--   Bollinger = μ ± 2σ       CoV = σ/μ
--   percent change = (μ − μ_prev)/μ_prev × 100, μ_prev over [T − 2W, T − W)
--   trend = least-squares slope of price on time over the window's samples,
--           (NΣtx − ΣtΣx)/(NΣt² − (Σt)²), in cents per hour
-- Window frames give every as-of in one pass over the hours; a zero "probe" row
-- per series and as-of makes a frame exist even when the last hour is empty.
-- The buckets' exact (numeric) time sums are first re-based to t − r, r = the
-- start of the scanned range (%(t_ref)s s), then summed as double precision:
-- small magnitudes keep the float sums accurate to ~1e-12, and float window sums
-- are an order of magnitude cheaper than numeric ones.
WITH as_of AS (
    SELECT DISTINCT unnest(%(as_of)s::timestamptz[]) AS as_of
), hours AS (
    SELECT bucket, item_id, provider_id, samples::float8 AS samples,
           sum_cents::float8 AS sum_cents,
           sum_sq_cents::float8 AS sum_sq_cents,
           (sum_t - samples * r)::float8 AS sum_t,
           (sum_t_sq - 2 * r * sum_t + samples * r * r)::float8 AS sum_t_sq,
           (sum_t_cents - r * sum_cents)::float8 AS sum_t_cents,
           false AS probe
    FROM price_1h, (SELECT %(t_ref)s::numeric AS r) AS ref  -- numeric: exact re-basing
    WHERE bucket >= %(lo)s AND bucket < %(hi)s
), probes AS (
    SELECT a.as_of - INTERVAL '1 hour', s.item_id, s.provider_id, 0::float8,
           0::float8, 0::float8, 0::float8, 0::float8, 0::float8, true
    FROM as_of AS a
    CROSS JOIN (SELECT DISTINCT item_id, provider_id FROM hours) AS s
), framed AS (
    SELECT
        bucket + INTERVAL '1 hour' AS as_of, item_id, provider_id, probe,
        sum(samples) OVER w AS n,
        sum(sum_cents) OVER w AS sx,
        sum(sum_sq_cents) OVER w AS sxx,
        sum(sum_t) OVER w AS st,
        sum(sum_t_sq) OVER w AS stt,
        sum(sum_t_cents) OVER w AS stx,
        sum(samples) OVER previous AS n_prev,
        sum(sum_cents) OVER previous AS sx_prev
    FROM (SELECT * FROM hours UNION ALL SELECT * FROM probes) AS rows
    WINDOW
        w AS (PARTITION BY item_id, provider_id ORDER BY bucket
              RANGE BETWEEN %(width_minus_hour)s PRECEDING AND CURRENT ROW),
        previous AS (PARTITION BY item_id, provider_id ORDER BY bucket
                     RANGE BETWEEN %(twice_width_minus_hour)s PRECEDING AND %(width)s PRECEDING)
), metrics AS (
    SELECT
        as_of, item_id, provider_id, n,
        sx / n AS mean,
        sqrt(greatest(n * sxx - sx * sx, 0)) / n AS sigma,
        CASE WHEN n_prev > 0 THEN sx_prev / n_prev END AS mean_prev,
        CASE WHEN n * stt - st * st > 0
             THEN (n * stx - st * sx) / (n * stt - st * st) * 3600 END AS slope
    FROM framed
    WHERE probe AND n >= 2
)
INSERT INTO item_volatility (
    window_name, as_of, item_id, provider_id, samples, mean_cents, stddev_cents,
    previous_mean_cents, pct_change, bollinger_upper_cents, bollinger_lower_cents,
    coefficient_of_variation, trend_cents_per_hour
)
SELECT
    %(window)s, as_of, item_id, provider_id, n::bigint,
    mean,
    sigma,
    mean_prev,
    CASE WHEN mean_prev > 0 THEN (mean - mean_prev) / mean_prev * 100 END,
    mean + 2 * sigma,
    mean - 2 * sigma,
    CASE WHEN mean > 0 THEN sigma / mean END,
    slope
FROM metrics
