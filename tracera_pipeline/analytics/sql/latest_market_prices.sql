-- Newest price of every item on each listed market in [since, until) (for given
-- items: latest_prices_of_items.sql).
-- The newest rows are picked from the narrow price rows first and named after:
-- sorting the window's rows with their names made the sort ~3x wider.
WITH newest AS (
    SELECT DISTINCT ON (p.item_id, p.provider_id)
        p.item_id, p.provider_id, p.time, p.price_cents, p.volume, p.listings
    FROM price_history AS p
    WHERE p.time >= %(since)s AND p.time < %(until)s
      AND p.provider_id IN (SELECT provider_id FROM providers WHERE name = ANY(%(markets)s))
    ORDER BY p.item_id, p.provider_id, p.time DESC
)
SELECT n.item_id, i.market_hash_name, pr.name AS market, n.time, n.price_cents, n.volume, n.listings
FROM newest AS n
JOIN providers AS pr USING (provider_id)
JOIN items AS i USING (item_id)
ORDER BY n.item_id, n.provider_id
