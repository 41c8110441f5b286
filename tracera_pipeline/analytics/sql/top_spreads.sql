-- The largest spreads net of fees of one hour, with what a reader needs.
SELECT s.item_id, i.market_hash_name, s.bucket, s.prices, s.cheapest_market,
       s.best_net_market, s.spread_pct, s.net_spread_pct
FROM market_spreads AS s
JOIN items AS i USING (item_id)
WHERE s.bucket = %(bucket)s
ORDER BY s.net_spread_pct DESC, s.item_id
LIMIT %(limit)s
