-- Segments of several buckets (a single as-of hour's 24h window: two of 24 hours
-- each): summed exactly per series and point, re-based exactly to t − r
-- (r = %(t_ref)s s, as in volatility_single_buckets.sql), then converted once.
-- Without %(full_sums)s (segments only previous windows read) the sums but the
-- count and the price sum are 0: PostgreSQL then leaves their aggregates out.
COPY (
    SELECT point, item_id, provider_id::integer,
           n::float8, sx::float8,
           CASE WHEN %(full_sums)s THEN sxx::float8 ELSE 0 END,
           CASE WHEN %(full_sums)s THEN (st - n * r)::float8 ELSE 0 END,
           CASE WHEN %(full_sums)s THEN (stt - 2 * r * st + n * r * r)::float8 ELSE 0 END,
           CASE WHEN %(full_sums)s THEN (stx - r * sx)::float8 ELSE 0 END
    FROM (
        SELECT point, item_id, provider_id, sum(samples) AS n, sum(sum_cents) AS sx,
               sum(sum_sq_cents) AS sxx, sum(sum_t) AS st, sum(sum_t_sq) AS stt,
               sum(sum_t_cents) AS stx
        FROM ({buckets}) AS buckets
        GROUP BY point, item_id, provider_id
    ) AS exact, (SELECT %(t_ref)s::numeric AS r) AS ref
) TO STDOUT (FORMAT binary)
