-- Each market's average price per item and hour in [lo, hi), from price_1h
-- (the pre-upgrade `legacy` blend is no market and stays out).
SELECT a.bucket, a.item_id, i.market_hash_name, p.name AS market, a.avg_cents
FROM price_1h AS a
JOIN providers AS p USING (provider_id)
JOIN items AS i USING (item_id)
WHERE a.bucket >= %(lo)s AND a.bucket < %(hi)s AND a.provider_id <> 0
