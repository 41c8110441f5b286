-- The buckets one volatility segment query reads, for the items in
-- [%(items_from)s, %(items_to)s): hours from price_1h and whole UTC days as their
-- price_24h bucket (%(hours)s → %(hour_points)s, %(days)s → %(day_points)s: the
-- point, an index into the plan's points, whose segment holds the bucket;
-- computed beforehand, so a hash lookup per row, not an expression over the points).
SELECT r.point, item_id, provider_id, samples, sum_cents, sum_sq_cents,
       coalesce(sum_t, 0) AS sum_t, coalesce(sum_t_sq, 0) AS sum_t_sq,
       coalesce(sum_t_cents, 0) AS sum_t_cents
FROM price_1h
JOIN unnest(%(hours)s::timestamptz[], %(hour_points)s::integer[]) AS r (bucket, point)
    USING (bucket)
-- The hours again as a condition on the table: estimated as the few hours they
-- are (index lookups), where a range over two weeks of a long history made the
-- planner read the whole table.
WHERE price_1h.bucket = ANY(%(hours)s::timestamptz[])
  AND item_id >= %(items_from)s AND item_id < %(items_to)s
UNION ALL
SELECT r.point, item_id, provider_id, samples, sum_cents, sum_sq_cents,
       coalesce(sum_t, 0), coalesce(sum_t_sq, 0), coalesce(sum_t_cents, 0)
FROM price_24h
JOIN unnest(%(days)s::timestamptz[], %(day_points)s::integer[]) AS r (bucket, point)
    USING (bucket)
WHERE price_24h.bucket = ANY(%(days)s::timestamptz[])
  AND item_id >= %(items_from)s AND item_id < %(items_to)s
