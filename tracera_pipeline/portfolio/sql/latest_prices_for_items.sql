-- The targeted latest-price lookup: only the held items, newest row before %(at)s
-- (ties between providers broken by provider id, so results are deterministic).
SELECT DISTINCT ON (item_id) item_id, price_cents
FROM price_history
WHERE item_id = ANY(%(items)s)
  AND time < %(at)s
  AND time >= %(since)s
ORDER BY item_id, time DESC, provider_id
