-- Value every portfolio at %(at)s from the held items' latest prices before it.
INSERT INTO portfolio_snapshots (time, portfolio_id, value_cents, items_held, items_priced)
SELECT
    %(at)s,
    p.portfolio_id,
    coalesce(sum(h.quantity * prices.price_cents), 0)::bigint,
    count(h.item_id)::integer,
    count(prices.item_id)::integer
FROM portfolios AS p
LEFT JOIN portfolio_holdings AS h USING (portfolio_id)
LEFT JOIN unnest(%(priced_items)s::integer[], %(prices)s::bigint[]) AS prices(item_id, price_cents)
       ON prices.item_id = h.item_id
GROUP BY p.portfolio_id
ON CONFLICT (portfolio_id, time) DO UPDATE SET
    value_cents = EXCLUDED.value_cents,
    items_held = EXCLUDED.items_held,
    items_priced = EXCLUDED.items_priced
