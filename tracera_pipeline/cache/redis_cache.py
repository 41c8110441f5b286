"""Hot data in Redis.

* ``price:latest:<item_id>`` — JSON of the item's reference price (the market
  that gave it, every market's latest price, the currency), with a TTL.
* ``price:market:<market>:<item_id>`` — JSON of one market's latest price, TTL.
  A Lua guard keeps the newest: a backfill of an old partition never overwrites.
* ``rankings:volatile:<window>`` (reference rule) and
  ``rankings:volatile:<window>:<market>`` — sorted sets, member item id, score
  coefficient of variation.
* ``spreads:top`` — sorted set, member item id, score net spread %; the hash
  ``spreads:top:details`` holds each member's markets and prices as JSON.
  Rankings and spreads are built under temporary keys and swapped in with
  ``RENAME`` (readers never see half of one), made persistent (the temporary
  key's expiry would survive the rename), and never replaced by an older as-of.
* channels ``prices``, ``volatility`` and ``spreads`` announce updates.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import redis

from tracera_pipeline.cache.paced_pipeline import PacedPipeline

# Fills a temporary key through a paced pipeline: (pipeline, temporary key name).
KeyWriter = Callable[[PacedPipeline, str], object]

# KEYS = price keys; ARGV = one JSON document per key, then the TTL. Each key is
# set unless it holds a newer price; returns how many were set. A document's time
# is read with a pattern, not cjson.decode: it is the first "time_us" key (written
# first), a name cannot forge one (a name's quotes are escaped), and sending the
# time as an argument of its own cost the client a third more encoding per key.
# (Documents cached before orjson wrote them have a space after the colon.)
_SET_IF_NEWER = """
local ttl = ARGV[#ARGV]
local written = 0
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  local newer = false
  if current then
    local held = tonumber(string.match(current, '"time_us":%s*(%d+)'))
    local incoming = tonumber(string.match(ARGV[i], '"time_us":%s*(%d+)'))
    newer = held ~= nil and incoming ~= nil and held > incoming
  end
  if not newer then
    redis.call('SET', KEYS[i], ARGV[i], 'EX', ttl)
    written = written + 1
  end
end
return written
"""
# Keys per script call: one call per key cost a command's parsing and dispatch each
# (30,000 prices: ~1 s). Redis runs one script at a time, so a call's length is what
# a reader may wait: measured per call, 100 keys held Redis ~0.6 ms (and cost more
# per key: 6 µs against 4.5), 20 keys ~0.09 ms; four calls go per round trip.
_SET_BATCH = 20

# KEYS[1] = the as-of key, then (temporary key, final key) pairs; ARGV[1] = as-of µs.
# UNLINK, not DEL or a RENAME over the old value: freeing a ranking of 5,000 members
# held Redis ~1 ms (every reader waited); UNLINK frees it on a background thread,
# and inside the script readers still never see the key missing.
_SWAP_IF_NEWER = """
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(ARGV[1]) then
  for i = 2, #KEYS, 2 do redis.call('UNLINK', KEYS[i]) end
  return 0
end
for i = 2, #KEYS, 2 do
  redis.call('UNLINK', KEYS[i + 1])
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 1])
    redis.call('PERSIST', KEYS[i + 1])
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
# KEYS = (ranking, its as-of key) pairs; ARGV[1] = as-of µs. Removes each ranking
# whose as-of is older; returns how many were removed.
_DROP_IF_OLDER = """
local dropped = 0
for i = 1, #KEYS, 2 do
  local held = redis.call('GET', KEYS[i + 1])
  if redis.call('EXISTS', KEYS[i]) == 1 and (not held or tonumber(held) < tonumber(ARGV[1])) then
    redis.call('UNLINK', KEYS[i], KEYS[i + 1])
    dropped = dropped + 1
  end
end
return dropped
"""
# Members per ZADD / fields per HSET while a temporary key fills: one ZADD of 5,000
# members held Redis 3-4 ms. With the JSON decode below, 125 members held it 0.1-0.15 ms
# (p50; p99.9 ~1 ms), 64 hold it 0.06 ms (p99.9 ~0.55 ms) at the same total speed,
# four of them per round trip.
_MEMBERS_PER_COMMAND = 64

# KEYS[1] = a sorted set; ARGV[1] = a JSON array [score, member, score, member, …].
# One argument per chunk instead of two per member: the client encoded each member
# and score on its own (30,000 members × 3 rankings: ~0.15 s of a 0.5 s warm), the
# C JSON encoder writes the chunk in a few µs. Both sides keep full precision
# (Python writes the shortest repr that reads back exactly, cjson reads with strtod).
_ZADD_PACKED = """
return redis.call('ZADD', KEYS[1], unpack(cjson.decode(ARGV[1])))
"""

# A crashed writer's temporary keys vanish after this; swapped keys are persisted.
_TEMP_KEY_TTL_SECONDS = 600


def _chunks(mapping: Mapping[str, object]) -> Iterable[dict[str, object]]:
    items = list(mapping.items())
    for start in range(0, len(items), _MEMBERS_PER_COMMAND):
        yield dict(items[start : start + _MEMBERS_PER_COMMAND])


def _hset(paced: PacedPipeline, key: str, fields: Mapping[str, str]) -> None:
    for number, chunk in enumerate(_chunks(fields)):
        paced.pipe.hset(key, mapping=chunk)
        paced.temporary(key, first=number == 0, ttl_seconds=_TEMP_KEY_TTL_SECONDS)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


@dataclass(frozen=True)
class LatestPrice:
    """A price for the cache: one market's, or the reference price (``markets`` set)."""

    item_id: int
    market_hash_name: str
    market: str
    time: datetime
    price_cents: int
    volume: int | None = None
    listings: int | None = None
    currency: str = "USD"
    # Reference prices only: the rule and every considered market's latest price.
    rule: str | None = None
    markets: Mapping[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """UTF-8 JSON. orjson: the standard library's encoder took ~0.1 s of a 0.4 s
        warm of 30,000 prices, orjson ~5 ms."""
        document: dict[str, object] = {
            "time_us": _micros(self.time),  # first: the cache's guard reads it there
            "item_id": self.item_id,
            "market_hash_name": self.market_hash_name,
            "market": self.market,
            "time": self.time,  # RFC 3339, as isoformat() writes it
            "price_cents": self.price_cents,
            "currency": self.currency,
            "volume": self.volume,
            "listings": self.listings,
        }
        if self.rule is not None:
            document["rule"] = self.rule
            document["markets"] = dict(self.markets)
        return orjson.dumps(document)


class PriceCache:
    def __init__(self, client: redis.Redis, prefix: str = "", latest_ttl_seconds: int = 7200):
        self.client = client
        self.prefix = prefix
        self.latest_ttl_seconds = latest_ttl_seconds
        self._set_if_newer = client.register_script(_SET_IF_NEWER)
        self._swap_if_newer = client.register_script(_SWAP_IF_NEWER)
        self._zadd_packed = client.register_script(_ZADD_PACKED)
        self._drop_if_older = client.register_script(_DROP_IF_OLDER)

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # Spelled out rather than through key(): called once per cached price.
    def latest_price_key(self, item_id: int) -> str:
        return f"{self.prefix}price:latest:{item_id}"

    def market_price_key(self, market: str, item_id: int) -> str:
        return f"{self.prefix}price:market:{market}:{item_id}"

    def ranking_key(self, window: str, market: str | None = None) -> str:
        return self.key("rankings", "volatile", window, *([market] if market else []))

    def spreads_key(self) -> str:
        return self.key("spreads", "top")

    def channel(self, name: str) -> str:
        return self.key(name)

    def _set_all_if_newer(self, entries: Iterable[tuple[str, LatestPrice]]) -> int:
        paced = PacedPipeline(self.client)
        keys: list[str] = []
        args: list[bytes] = []

        def flush() -> None:
            if keys:
                ttl = self.latest_ttl_seconds
                paced.script(self._set_if_newer, keys, [*args, ttl])
                paced.queued()
                keys.clear()
                args.clear()

        for key, price in entries:
            keys.append(key)
            args.append(price.to_json())
            if len(keys) == _SET_BATCH:
                flush()
        flush()
        return sum(int(result) for result in paced.results())

    def set_latest_prices(self, prices: Iterable[LatestPrice]) -> int:
        """Reference prices, each unless a newer one is cached; returns how many were written."""
        return self._set_all_if_newer((self.latest_price_key(p.item_id), p) for p in prices)

    def set_market_prices(self, prices: Iterable[LatestPrice]) -> int:
        """Per-market latest prices, each unless a newer one is cached."""
        return self._set_all_if_newer(
            (self.market_price_key(p.market, p.item_id), p) for p in prices
        )

    def get_latest_price(self, item_id: int) -> dict | None:
        raw = self.client.get(self.latest_price_key(item_id))
        return json.loads(raw) if raw else None

    def get_market_price(self, market: str, item_id: int) -> dict | None:
        raw = self.client.get(self.market_price_key(market, item_id))
        return json.loads(raw) if raw else None

    def _zadd(self, paced: PacedPipeline, key: str, members: Mapping[str, float]) -> None:
        for number, chunk in enumerate(_chunks(members)):
            flat = [value for member, score in chunk.items() for value in (score, member)]
            packed = json.dumps(flat, allow_nan=False, separators=(",", ":"))
            paced.script(self._zadd_packed, [key], [packed])
            paced.temporary(key, first=number == 0, ttl_seconds=_TEMP_KEY_TTL_SECONDS)

    def _swap(self, final_keys: list[str], build: dict[str, KeyWriter], as_of: datetime) -> bool:
        """Fill temporary keys with ``build`` (key → writer), then swap them all in at once."""
        pairs: list[str] = []
        paced = PacedPipeline(self.client)
        for final in final_keys:
            temp = f"{final}:building:{uuid.uuid4().hex}"
            writer = build.get(final)
            if writer is not None:
                writer(paced, temp)  # it sets the key's expiry with its first command
            pairs += [temp, final]
        paced.results()
        swapped = self._swap_if_newer(
            keys=[f"{final_keys[0]}:as_of", *pairs], args=[_micros(as_of)]
        )
        return bool(swapped)

    def replace_ranking(
        self, window: str, scores: Mapping[int, float], as_of: datetime, market: str | None = None
    ) -> bool:
        """Atomically swap in a ranking unless a newer one is there; True if swapped."""
        key = self.ranking_key(window, market)
        members = {str(item): score for item, score in scores.items()}
        build: dict[str, KeyWriter] = (
            {key: lambda pipe, temp: self._zadd(pipe, temp, members)} if members else {}
        )
        return self._swap([key], build, as_of)

    def drop_market_rankings(
        self, windows: Iterable[str], markets: Iterable[str], as_of: datetime
    ) -> int:
        """Remove the markets' rankings older than ``as_of``: rankings never expire, so
        those of a market no longer ingested would stay for good. How many went."""
        rankings = [self.ranking_key(window, market) for window in windows for market in markets]
        keys = [key for ranking in rankings for key in (ranking, f"{ranking}:as_of")]
        return int(self._drop_if_older(keys=keys, args=[_micros(as_of)])) if keys else 0

    def replace_spreads(
        self, scores: Mapping[int, float], details: Mapping[int, dict], as_of: datetime
    ) -> bool:
        """Swap in the top spreads (score: net spread %) and their details together."""
        key, details_key = self.spreads_key(), self.key("spreads", "top", "details")
        build: dict[str, KeyWriter] = {}
        if scores:
            members = {str(item): score for item, score in scores.items()}
            encoded = {str(item): json.dumps(doc, default=str) for item, doc in details.items()}
            build = {
                key: lambda pipe, temp: self._zadd(pipe, temp, members),
                details_key: lambda pipe, temp: _hset(pipe, temp, encoded),
            }
        return self._swap([key, details_key], build, as_of)

    def top_volatile(
        self, window: str, limit: int = 10, market: str | None = None
    ) -> list[tuple[int, float]]:
        key = self.ranking_key(window, market)
        rows = self.client.zrevrange(key, 0, limit - 1, withscores=True)
        return [(int(member), score) for member, score in rows]

    def top_spreads(self, limit: int = 10) -> list[tuple[int, float, dict]]:
        rows = self.client.zrevrange(self.spreads_key(), 0, limit - 1, withscores=True)
        if not rows:
            return []
        details = self.client.hmget(self.key("spreads", "top", "details"), [m for m, _ in rows])
        return [
            (int(member), score, json.loads(detail) if detail else {})
            for (member, score), detail in zip(rows, details, strict=True)
        ]

    def publish(self, channel: str, message: dict) -> int:
        return int(self.client.publish(self.channel(channel), json.dumps(message, default=str)))
