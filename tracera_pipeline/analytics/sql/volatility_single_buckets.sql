-- Segments of one bucket each (every hour of a run of as-of hours), converted as
-- they are: per series and point the count and the sums of price, price², t, t²
-- and t·price. A hash aggregate would keep numeric sums per group (~1 kB each)
-- for nothing: 213,000 groups took longer than the rest of the computation.
--
-- The exact (numeric) time sums are re-based exactly to t − r, r = the start of
-- the scanned range (%(t_ref)s s), and only then made double precision: small
-- magnitudes keep the float sums accurate to ~1e-12. Without %(full_sums)s
-- (segments only previous windows read) the sums but the count and the price sum
-- are 0, as in volatility_wide_segments.sql.
COPY (
    SELECT point, item_id, provider_id::integer,
           samples::float8, sum_cents::float8,
           CASE WHEN %(full_sums)s THEN sum_sq_cents::float8 ELSE 0 END,
           CASE WHEN %(full_sums)s THEN (sum_t - samples * r)::float8 ELSE 0 END,
           CASE WHEN %(full_sums)s THEN (sum_t_sq - 2 * r * sum_t + samples * r * r)::float8 ELSE 0 END,
           CASE WHEN %(full_sums)s THEN (sum_t_cents - r * sum_cents)::float8 ELSE 0 END
    FROM ({buckets}) AS buckets, (SELECT %(t_ref)s::numeric AS r) AS ref
) TO STDOUT (FORMAT binary)
