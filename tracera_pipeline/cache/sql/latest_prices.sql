-- Newest price of every item in [since, until), any provider (ties: lowest provider id).
SELECT DISTINCT ON (p.item_id)
    p.item_id, i.market_hash_name, pr.name, p.time, p.price_cents, p.volume, p.listings
FROM price_history AS p
JOIN items AS i USING (item_id)
JOIN providers AS pr USING (provider_id)
WHERE p.time >= %(since)s AND p.time < %(until)s
ORDER BY p.item_id, p.time DESC, p.provider_id
