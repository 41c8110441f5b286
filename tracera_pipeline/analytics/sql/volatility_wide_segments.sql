-- Segments of several buckets (a single as-of hour's 24h window: two of 24 hours
-- each): summed exactly per series and point, re-based exactly to t − r
-- (r = %(t_ref)s s, as in volatility_single_buckets.sql), then converted once.
COPY (
    SELECT point, item_id, provider_id::integer,
           n::float8, sx::float8, sxx::float8,
           (st - n * r)::float8,
           (stt - 2 * r * st + n * r * r)::float8,
           (stx - r * sx)::float8
    FROM (
        SELECT point, item_id, provider_id, sum(samples) AS n, sum(sum_cents) AS sx,
               sum(sum_sq_cents) AS sxx, sum(sum_t) AS st, sum(sum_t_sq) AS stt,
               sum(sum_t_cents) AS stx
        FROM ({buckets}) AS buckets
        GROUP BY point, item_id, provider_id
    ) AS exact, (SELECT %(t_ref)s::numeric AS r) AS ref
) TO STDOUT (FORMAT binary)
