-- Sliding-window volatility per item and market: for the window W and each as-of
-- time T (an hour boundary), the samples in [T - W, T), combined exactly from the
-- 1h buckets' count, sums of price, price², t, t² and t·price:
--   mean μ = Σx/N            σ = √(Σ(x−μ)²/N) = √(NΣx² − (Σx)²)/N   (population)
--   Bollinger = μ ± 2σ       CoV = σ/μ
--   percent change = (μ − μ_prev)/μ_prev × 100, μ_prev over [T − 2W, T − W)
--   trend = least-squares slope of price on time over the window's samples,
--           (NΣtx − ΣtΣx)/(NΣt² − (Σt)²), in cents per hour
--
-- How, in one pass whatever the number of as-of times: with C(p) the running
-- sums of the hours up to and including p, the window's sums at T are
-- C(T − 1h) − C(T − 1h − W) and the previous window's C(T − 1h − W) −
-- C(T − 1h − 2W). Only those "points" matter, so the hours
-- are first summed per series into segments (the hours after one point up to
-- the next): a hash aggregate over the scanned hours, then running sums over a
-- few rows per point and series — not a sort and a sliding frame over every hour.
-- A UTC day lying whole inside one segment is read as its price_24h bucket
-- (the days above): its sums are
-- exactly its hours' sums.
-- The buckets' exact (numeric) time sums are re-based to t − r, r = the start of
-- the scanned range (%(t_ref)s s), before they are summed as double precision:
-- small magnitudes keep the float sums accurate to ~1e-12.
WITH hours AS (
    -- The hours read from price_1h and whole days as their 24h buckets, each with
    -- the point its segment ends at (%(hours)s → %(hour_points)s, %(days)s →
    -- %(day_points)s, computed beforehand: a hash lookup per row, not an
    -- expression over the points).
    SELECT r.point, item_id, provider_id, samples, sum_cents, sum_sq_cents,
           sum_t, sum_t_sq, sum_t_cents
    FROM price_1h
    JOIN unnest(%(hours)s::timestamptz[], %(hour_points)s::timestamptz[]) AS r (bucket, point)
        USING (bucket)
    -- The hours again as a condition on the table: estimated as the few hours they
    -- are (index lookups), where a range over two weeks of a long history made the
    -- planner read the whole table.
    WHERE price_1h.bucket = ANY(%(hours)s::timestamptz[])
    UNION ALL
    SELECT r.point, item_id, provider_id, samples, sum_cents, sum_sq_cents,
           sum_t, sum_t_sq, sum_t_cents
    FROM price_24h
    JOIN unnest(%(days)s::timestamptz[], %(day_points)s::timestamptz[]) AS r (bucket, point)
        USING (bucket)
    WHERE price_24h.bucket = ANY(%(days)s::timestamptz[])
), segments AS (
    -- Exact (numeric) sums per segment, re-based exactly, then double precision.
    SELECT point, item_id, provider_id,
           n::float8 AS samples, sx::float8 AS sum_cents, sxx::float8 AS sum_sq_cents,
           (st - n * r)::float8 AS sum_t,
           (stt - 2 * r * st + n * r * r)::float8 AS sum_t_sq,
           (stx - r * sx)::float8 AS sum_t_cents
    FROM (
        SELECT point, item_id, provider_id, sum(samples) AS n, sum(sum_cents) AS sx,
               sum(sum_sq_cents) AS sxx, sum(sum_t) AS st, sum(sum_t_sq) AS stt,
               sum(sum_t_cents) AS stx
        FROM hours
        GROUP BY point, item_id, provider_id
    ) AS exact, (SELECT %(t_ref)s::numeric AS r) AS ref
), probes AS (
    -- Where each as-of reads the running sums: kind 0 at T − 1h, 1 at T − 1h − W,
    -- 2 at T − 1h − 2W (zero rows, ordered after the segment ending there).
    SELECT a.as_of - INTERVAL '1 hour' - k.kind * %(width)s AS point, s.item_id, s.provider_id,
           0::float8, 0::float8, 0::float8, 0::float8, 0::float8, 0::float8,
           true AS probe, a.as_of, k.kind
    FROM (SELECT DISTINCT unnest(%(as_of)s::timestamptz[]) AS as_of) AS a
    CROSS JOIN (VALUES (0), (1), (2)) AS k (kind)
    CROSS JOIN (SELECT DISTINCT item_id, provider_id FROM segments) AS s
), running AS (
    SELECT
        as_of, kind, item_id, provider_id, probe,
        sum(samples) OVER w AS n,
        sum(sum_cents) OVER w AS sx,
        sum(sum_sq_cents) OVER w AS sxx,
        sum(sum_t) OVER w AS st,
        sum(sum_t_sq) OVER w AS stt,
        sum(sum_t_cents) OVER w AS stx
    FROM (
        SELECT *, false, NULL::timestamptz, NULL::integer FROM segments
        UNION ALL
        SELECT * FROM probes
    ) AS rows (point, item_id, provider_id, samples, sum_cents, sum_sq_cents,
               sum_t, sum_t_sq, sum_t_cents, probe, as_of, kind)
    WINDOW w AS (PARTITION BY item_id, provider_id ORDER BY point, probe
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
), framed AS (
    SELECT
        as_of, item_id, provider_id,
        sum(n) FILTER (WHERE kind = 0) - sum(n) FILTER (WHERE kind = 1) AS n,
        sum(sx) FILTER (WHERE kind = 0) - sum(sx) FILTER (WHERE kind = 1) AS sx,
        sum(sxx) FILTER (WHERE kind = 0) - sum(sxx) FILTER (WHERE kind = 1) AS sxx,
        sum(st) FILTER (WHERE kind = 0) - sum(st) FILTER (WHERE kind = 1) AS st,
        sum(stt) FILTER (WHERE kind = 0) - sum(stt) FILTER (WHERE kind = 1) AS stt,
        sum(stx) FILTER (WHERE kind = 0) - sum(stx) FILTER (WHERE kind = 1) AS stx,
        sum(n) FILTER (WHERE kind = 1) - sum(n) FILTER (WHERE kind = 2) AS n_prev,
        sum(sx) FILTER (WHERE kind = 1) - sum(sx) FILTER (WHERE kind = 2) AS sx_prev
    FROM running
    WHERE probe
    GROUP BY as_of, item_id, provider_id
), metrics AS (
    SELECT
        as_of, item_id, provider_id, n,
        sx / n AS mean,
        sqrt(greatest(n * sxx - sx * sx, 0)) / n AS sigma,
        CASE WHEN n_prev > 0 THEN sx_prev / n_prev END AS mean_prev,
        CASE WHEN n * stt - st * st > 0
             THEN (n * stx - st * sx) / (n * stt - st * st) * 3600 END AS slope
    FROM framed
    WHERE n >= 2
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
