-- Cross-market spreads of every item priced on two or more markets in each hour
-- of [lo, hi), from price_1h (the pre-upgrade `legacy` blend is no market), in
-- one statement: no row leaves the server. See spreads.py for the definitions.
WITH prices AS (
    SELECT a.bucket, a.item_id, p.name AS market, a.avg_cents,
           a.avg_cents * (1 - coalesce(f.fee, 0)) AS net_cents
    FROM price_1h AS a
    JOIN providers AS p USING (provider_id)
    LEFT JOIN unnest(%(fee_markets)s::text[], %(fees)s::float8[]) AS f (market, fee)
           ON f.market = p.name
    WHERE a.bucket >= %(lo)s AND a.bucket < %(hi)s AND a.provider_id <> 0
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY bucket, item_id ORDER BY avg_cents, market) AS rank
    FROM prices
), per_item AS (
    SELECT
        bucket, item_id,
        count(*) AS markets,
        jsonb_object_agg(market, round(avg_cents::numeric, 2)) AS prices,
        (array_agg(market ORDER BY avg_cents, market))[1] AS cheapest_market,
        min(avg_cents) AS cheapest_cents,
        (array_agg(market ORDER BY avg_cents DESC, market DESC))[1] AS dearest_market,
        max(avg_cents) AS dearest_cents,
        -- where to sell: the best return after fees among the other markets
        (array_agg(market ORDER BY net_cents DESC, rank) FILTER (WHERE rank > 1))[1]
            AS best_net_market,
        max(net_cents) FILTER (WHERE rank > 1) AS best_net_cents
    FROM ranked
    GROUP BY bucket, item_id
    HAVING count(*) >= 2
)
INSERT INTO market_spreads (
    bucket, item_id, markets, prices, cheapest_market, cheapest_cents, dearest_market,
    dearest_cents, spread_pct, best_net_market, best_net_cents, net_spread_pct
)
SELECT
    bucket, item_id, markets, prices, cheapest_market, cheapest_cents, dearest_market,
    dearest_cents, (dearest_cents - cheapest_cents) / cheapest_cents * 100,
    best_net_market, best_net_cents, (best_net_cents - cheapest_cents) / cheapest_cents * 100
FROM per_item
