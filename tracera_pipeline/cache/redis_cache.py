"""Hot data in Redis.

* ``price:latest:<item_id>`` — JSON of the newest price, with a TTL. A Lua guard
  keeps the newest: a backfill of an old partition never overwrites it.
* ``rankings:volatile:<window>`` — sorted set (member item id, score coefficient
  of variation), built under a temporary key and swapped in with ``RENAME`` so
  readers never see half a ranking; older rankings never replace newer ones.
* channels ``prices`` and ``volatility`` announce updates.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import redis

# KEYS[1]=price key; ARGV = json, epoch µs of the price, ttl seconds.
_SET_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and tonumber(decoded['time_us']) > tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""

# KEYS = temp key, ranking key, ranking's as-of key; ARGV[1] = as-of epoch µs.
_SWAP_IF_NEWER = """
local current = redis.call('GET', KEYS[3])
if current and tonumber(current) > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[2])
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[3], ARGV[1])
return 1
"""


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


@dataclass(frozen=True)
class LatestPrice:
    item_id: int
    market_hash_name: str
    provider: str
    time: datetime
    price_cents: int
    volume: int | None
    listings: int | None

    def to_json(self) -> str:
        return json.dumps(
            {
                "item_id": self.item_id,
                "market_hash_name": self.market_hash_name,
                "provider": self.provider,
                "time": self.time.isoformat(),
                "time_us": _micros(self.time),
                "price_cents": self.price_cents,
                "volume": self.volume,
                "listings": self.listings,
            },
            ensure_ascii=False,
        )


class PriceCache:
    def __init__(self, client: redis.Redis, prefix: str = "", latest_ttl_seconds: int = 7200):
        self.client = client
        self.prefix = prefix
        self.latest_ttl_seconds = latest_ttl_seconds
        self._set_if_newer = client.register_script(_SET_IF_NEWER)
        self._swap_if_newer = client.register_script(_SWAP_IF_NEWER)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    def latest_price_key(self, item_id: int) -> str:
        return self.key("price", "latest", item_id)

    def ranking_key(self, window: str) -> str:
        return self.key("rankings", "volatile", window)

    def channel(self, name: str) -> str:
        return self.key(name)

    def set_latest_prices(self, prices: Iterable[LatestPrice]) -> int:
        """Write each price unless a newer one is cached; returns how many were written."""
        pipe = self.client.pipeline(transaction=False)
        for price in prices:
            self._set_if_newer(
                keys=[self.latest_price_key(price.item_id)],
                args=[price.to_json(), _micros(price.time), self.latest_ttl_seconds],
                client=pipe,
            )
        return sum(int(result) for result in pipe.execute())

    def get_latest_price(self, item_id: int) -> dict | None:
        raw = self.client.get(self.latest_price_key(item_id))
        return json.loads(raw) if raw else None

    def replace_ranking(self, window: str, scores: dict[int, float], as_of: datetime) -> bool:
        """Atomically swap in a new ranking unless a newer one is there; True if swapped."""
        temp = self.key("rankings", "volatile", window, "building", uuid.uuid4().hex)
        pipe = self.client.pipeline(transaction=False)
        if scores:
            pipe.zadd(temp, {str(item): score for item, score in scores.items()})
            pipe.expire(temp, 600)  # a crashed writer leaves no garbage behind
        pipe.execute()
        swapped = self._swap_if_newer(
            keys=[temp, self.ranking_key(window), self.ranking_key(window) + ":as_of"],
            args=[_micros(as_of)],
        )
        return bool(swapped)

    def top_volatile(self, window: str, limit: int = 10) -> list[tuple[int, float]]:
        rows = self.client.zrevrange(self.ranking_key(window), 0, limit - 1, withscores=True)
        return [(int(member), score) for member, score in rows]

    def publish(self, channel: str, message: dict) -> int:
        return int(self.client.publish(self.channel(channel), json.dumps(message, default=str)))
