-- Value every portfolio at %(at)s from the held items' reference prices then
-- (reference_prices, written just before), counting holdings priced per market.
-- One pass over the holdings: grouped by portfolio and pricing market (NULL: no
-- reference price), then rolled up per portfolio.
WITH per_market AS (
    SELECT h.portfolio_id, r.market,
           sum(h.quantity::bigint * r.price_cents) AS value_cents,
           count(*) AS holdings,
           count(r.item_id) AS priced
    FROM portfolio_holdings AS h
    LEFT JOIN reference_prices AS r ON r.item_id = h.item_id AND r.time = %(at)s
    GROUP BY 1, 2
)
INSERT INTO portfolio_snapshots (
    time, portfolio_id, value_cents, items_held, items_priced, reference_rule, priced_by
)
SELECT
    %(at)s,
    p.portfolio_id,
    coalesce(sum(m.value_cents), 0)::bigint,
    coalesce(sum(m.holdings), 0)::integer,
    coalesce(sum(m.priced), 0)::integer,
    %(rule)s,
    coalesce(jsonb_object_agg(m.market, m.priced) FILTER (WHERE m.market IS NOT NULL), jsonb_build_object())
FROM portfolios AS p
LEFT JOIN per_market AS m USING (portfolio_id)
GROUP BY p.portfolio_id
ON CONFLICT (portfolio_id, time) DO UPDATE SET
    value_cents = EXCLUDED.value_cents,
    items_held = EXCLUDED.items_held,
    items_priced = EXCLUDED.items_priced,
    reference_rule = EXCLUDED.reference_rule,
    priced_by = EXCLUDED.priced_by
