-- The sums of one volatility computation's segments (see volatility_plan.py)
-- for the items in [%(items_from)s, %(items_to)s): per series and point (its
-- index in the plan's points), the count and the sums of price, price², t, t²
-- and t·price of the hours after the previous point up to and including this
-- one. The hours are read from price_1h and whole UTC days as their price_24h
-- bucket (%(hours)s → %(hour_points)s, %(days)s → %(day_points)s,
-- computed beforehand: a hash lookup per row, not an expression over the points).
--
-- The buckets' exact (numeric) time sums are re-based exactly to t − r, r = the
-- start of the scanned range (%(t_ref)s s), and only then made double precision:
-- small magnitudes keep the float sums accurate to ~1e-12.
COPY (
    WITH hours AS (
        SELECT r.point, r.alone, item_id, provider_id, samples, sum_cents, sum_sq_cents,
               coalesce(sum_t, 0) AS sum_t, coalesce(sum_t_sq, 0) AS sum_t_sq,
               coalesce(sum_t_cents, 0) AS sum_t_cents
        FROM price_1h
        JOIN unnest(%(hours)s::timestamptz[], %(hour_points)s::integer[],
                    %(hour_alone)s::boolean[]) AS r (bucket, point, alone)
            USING (bucket)
        -- The hours again as a condition on the table: estimated as the few hours
        -- they are (index lookups), where a range over two weeks of a long history
        -- made the planner read the whole table.
        WHERE price_1h.bucket = ANY(%(hours)s::timestamptz[])
          AND item_id >= %(items_from)s AND item_id < %(items_to)s
        UNION ALL
        SELECT r.point, r.alone, item_id, provider_id, samples, sum_cents, sum_sq_cents,
               coalesce(sum_t, 0), coalesce(sum_t_sq, 0), coalesce(sum_t_cents, 0)
        FROM price_24h
        JOIN unnest(%(days)s::timestamptz[], %(day_points)s::integer[],
                    %(day_alone)s::boolean[]) AS r (bucket, point, alone)
            USING (bucket)
        WHERE price_24h.bucket = ANY(%(days)s::timestamptz[])
          AND item_id >= %(items_from)s AND item_id < %(items_to)s
    ), ref AS (
        SELECT %(t_ref)s::numeric AS r
    )
    -- A segment of one bucket (every hour of a run of as-of hours): converted as
    -- it is. A hash aggregate would keep numeric sums per group (~1 kB each) for
    -- nothing: 213,000 groups took longer than the rest of the computation.
    SELECT point, item_id, provider_id::integer,
           samples::float8, sum_cents::float8, sum_sq_cents::float8,
           (sum_t - samples * r)::float8,
           (sum_t_sq - 2 * r * sum_t + samples * r * r)::float8,
           (sum_t_cents - r * sum_cents)::float8
    FROM hours, ref
    WHERE alone
    UNION ALL
    -- Wider segments (a single as-of hour's 24h window: two of 24 hours): summed
    -- exactly, then converted once per segment.
    SELECT point, item_id, provider_id::integer,
           n::float8, sx::float8, sxx::float8,
           (st - n * r)::float8,
           (stt - 2 * r * st + n * r * r)::float8,
           (stx - r * sx)::float8
    FROM (
        SELECT point, item_id, provider_id, sum(samples) AS n, sum(sum_cents) AS sx,
               sum(sum_sq_cents) AS sxx, sum(sum_t) AS st, sum(sum_t_sq) AS stt,
               sum(sum_t_cents) AS stx
        FROM hours
        WHERE NOT alone
        GROUP BY point, item_id, provider_id
    ) AS exact, ref
) TO STDOUT (FORMAT binary)
