"""Outbound request budgets shared by every process and run, kept in Redis.

A sliding-window log per provider (sorted set of request times, Redis clock), so
N requests per period hold across the schedule, backfills and parallel steps.
Every attempt takes a slot, retries included. Two things keep a strict server
from ever seeing N + 1 requests in one of its windows:

* a slot is stamped again when its request *finishes*: the server counted the
  request somewhere between sending and answering, so the window is measured
  from the latest moment it can have been counted (a slow connect or a queued
  request otherwise lets the next one in early);
* a safety margin lengthens the period (default 10%: "20/60" allows 20 requests
  in any 66 s), for clock and latency differences between us and the server.

A 429 elsewhere blocks everyone: ``block_until`` records when the provider may be
called again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

# KEYS: log, blocked-until; ARGV: limit, period ms. Returns 0 (granted) or ms to wait.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if blocked > now then return blocked - now end
local period = tonumber(ARGV[2])
-- strictly older than one period: a slot at exactly now - period still counts
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - period))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], period)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + period - now)
"""

# KEYS: log; ARGV: period ms, token. Re-stamps a slot with the time its request ended.
_FINISH = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
"""

# KEYS: blocked-until; ARGV: epoch ms. Only ever extends the block.
_BLOCK = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local target = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if target > current and target > now then
  redis.call('SET', KEYS[1], target, 'PX', target - now)
end
return 1
"""


class BudgetExhausted(TimeoutError):
    pass


DEFAULT_MARGIN = 0.1  # the period is lengthened by this fraction


@dataclass
class RateBudget:
    client: redis.Redis
    provider: str
    limit: int
    period_seconds: float
    prefix: str = ""
    sleep: Callable[[float], None] = time.sleep
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        self._acquire = self.client.register_script(_ACQUIRE)
        self._finish = self.client.register_script(_FINISH)
        self._block = self.client.register_script(_BLOCK)
        base = f"{self.prefix}ratelimit:{self.provider}"
        self.log_key, self.blocked_key = base, f"{base}:blocked_until"
        self._period_ms = int(self.period_seconds * (1 + self.margin) * 1000)

    def try_acquire(self, token: str | None = None) -> float:
        """Take a slot now (0.0) or say how many seconds until one frees up."""
        wait_ms = self._acquire(
            keys=[self.log_key, self.blocked_key],
            args=[self.limit, self._period_ms, token or uuid.uuid4().hex],
        )
        return int(wait_ms) / 1000

    def acquire(self, deadline: float) -> str:
        """Block until a slot is granted; returns its token for ``finish``.
        ``deadline``: monotonic seconds."""
        token = uuid.uuid4().hex
        while (wait := self.try_acquire(token)) > 0:
            if time.monotonic() + wait > deadline:
                raise BudgetExhausted(
                    f"{self.provider}: no request slot within the time budget"
                    f" ({self.limit} per {self.period_seconds:g}s)"
                )
            self.sleep(wait)
        return token

    def finish(self, token: str) -> None:
        """The request of this slot has ended: its window starts now."""
        self._finish(keys=[self.log_key], args=[self._period_ms, token])

    def block_until(self, epoch_seconds: float) -> None:
        """Nobody calls this provider before ``epoch_seconds`` (after a 429)."""
        self._block(keys=[self.blocked_key], args=[int(epoch_seconds * 1000)])
