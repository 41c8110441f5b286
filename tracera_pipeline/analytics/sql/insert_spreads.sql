INSERT INTO market_spreads (
    bucket, item_id, markets, prices, cheapest_market, cheapest_cents, dearest_market,
    dearest_cents, spread_pct, best_net_market, best_net_cents, net_spread_pct
)
SELECT * FROM unnest(
    %(bucket)s::timestamptz[], %(item_id)s::integer[], %(markets)s::smallint[],
    %(prices)s::jsonb[], %(cheapest_market)s::text[], %(cheapest_cents)s::float8[],
    %(dearest_market)s::text[], %(dearest_cents)s::float8[], %(spread_pct)s::float8[],
    %(best_net_market)s::text[], %(best_net_cents)s::float8[], %(net_spread_pct)s::float8[]
)
