-- The held items' reference prices at %(at)s, with the market that gave each.
INSERT INTO reference_prices (time, item_id, price_cents, market, markets, observed_at)
SELECT %(at)s, item_id, price_cents, market, string_to_array(considered, ','), observed
FROM unnest(
    %(items)s::integer[], %(prices)s::bigint[], %(markets)s::text[],
    %(considered)s::text[], %(observed)s::timestamptz[]
) AS r(item_id, price_cents, market, considered, observed)
