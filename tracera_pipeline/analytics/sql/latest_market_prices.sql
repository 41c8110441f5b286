-- Newest price of every item on each listed market in [since, until); with
-- {item_filter} only the given items (the seed's targeted lookup for portfolios).
SELECT DISTINCT ON (p.item_id, p.provider_id)
    p.item_id, i.market_hash_name, pr.name AS market, p.time, p.price_cents, p.volume, p.listings
FROM price_history AS p
JOIN providers AS pr USING (provider_id)
JOIN items AS i USING (item_id)
WHERE p.time >= %(since)s AND p.time < %(until)s
  AND pr.name = ANY(%(markets)s)
  {item_filter}
ORDER BY p.item_id, p.provider_id, p.time DESC
