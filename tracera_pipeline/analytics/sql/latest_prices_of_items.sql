-- Newest price of each of %(items)s on each listed market in [since, until): the
-- seed's targeted lookup, as one statement. Each (item, market) pair reads its
-- newest row backwards down the primary key (item_id, provider_id, time) and stops:
-- 2,000 held items × 3 markets took 20 ms, where sorting the window's rows of those
-- items (12 rows a series in 2 hours) took 47 ms, and the lookup's cost does not
-- grow with how often a market is sampled.
SELECT h.item_id, i.market_hash_name, pr.name AS market,
       n.time, n.price_cents, n.volume, n.listings
FROM unnest(%(items)s::integer[]) AS h(item_id)
JOIN items AS i USING (item_id)
CROSS JOIN providers AS pr
CROSS JOIN LATERAL (
    SELECT p.time, p.price_cents, p.volume, p.listings
    FROM price_history AS p
    WHERE p.item_id = h.item_id AND p.provider_id = pr.provider_id
      AND p.time >= %(since)s AND p.time < %(until)s
    ORDER BY p.time DESC
    LIMIT 1
) AS n
WHERE pr.name = ANY(%(markets)s)
ORDER BY h.item_id, pr.provider_id
