"""A deterministic market simulator: the offline default and the benchmark workload.

Every value is a pure function of (seed, provider, item, timestamp): a re-fetch
of any window returns identical rows, and a range fetch equals the union of its
hourly fetches. Prices follow a per-item base level with weekly and daily cycles,
a slow drift and hashed noise, all vectorised in numpy.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from tracera_pipeline.providers.base import PRICE_SCHEMA
from tracera_pipeline.providers.item_names import item_names
from tracera_pipeline.storage.price_writer import WriteMode

_DAY = 86_400.0
_WEAR_FACTOR = {
    "Factory New": 1.6,
    "Minimal Wear": 1.2,
    "Field-Tested": 1.0,
    "Well-Worn": 0.85,
    "Battle-Scarred": 0.75,
}
_WEAR = re.compile(r"\((Factory New|Minimal Wear|Field-Tested|Well-Worn|Battle-Scarred)\)$")


def _hash64(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """A well-mixed 64-bit hash of each value (uint64 arithmetic wraps by design)."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _uniform(values: np.ndarray) -> np.ndarray:
    """Uniform floats in (0, 1) from 64-bit hashes."""
    return ((values >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def _base_price_cents(name: str, unit: float) -> float:
    """Typical price level by item kind, wear and StatTrak™, spread log-normally."""
    if name.startswith("★"):
        level = 40_000.0
    elif name.startswith("Sticker"):
        level = 2_500.0
    elif "Case" in name:
        level = 150.0
    else:
        level = 1_200.0
    wear = _WEAR.search(name)
    if wear:
        level *= _WEAR_FACTOR[wear.group(1)]
    if "StatTrak™" in name:
        level *= 1.8
    return level * float(np.exp(1.1 * (unit - 0.5) * 4))


@dataclass(frozen=True)
class _ItemParams:
    seeds: np.ndarray  # uint64 per item
    base: np.ndarray  # cents
    volatility: np.ndarray  # daily log-volatility
    phase_week: np.ndarray
    phase_day: np.ndarray
    drift: np.ndarray  # log-change per year
    volume: np.ndarray  # typical sales per sample interval
    listings: np.ndarray


# Simulated markets: (price level against `synthetic`, noise salt). They trade
# the same items along the same underlying path, each at its own level and with
# its own noise, so spreads and per-market volatility look like real markets'
# (Buff163 usually cheaper than Steam, whose wallet-only balance trades dearer).
SYNTHETIC_MARKETS: dict[str, tuple[float, int]] = {
    "synthetic": (1.0, 0),
    "synthetic_steam": (1.12, 0x5354_4541_4D00),
    "synthetic_buff": (0.86, 0x4255_4646_0000),
}


@dataclass
class SyntheticMarket:
    """The synthetic provider: ``items`` items sampled every ``interval_seconds``."""

    items: int = 200
    interval_seconds: int = 300
    seed: int = 7
    name: str = "synthetic"
    price_factor: float = 1.0
    noise_salt: int = 0
    supports_history: bool = True
    write_mode: WriteMode = WriteMode.REPLACE
    _params: _ItemParams | None = field(default=None, init=False, repr=False)

    @classmethod
    def for_market(cls, name: str, **settings: int) -> SyntheticMarket:
        """One of ``SYNTHETIC_MARKETS`` by name."""
        factor, salt = SYNTHETIC_MARKETS[name]
        return cls(name=name, price_factor=factor, noise_salt=salt, **settings)

    def __post_init__(self) -> None:
        if self.items < 1 or self.interval_seconds < 1:
            raise ValueError("the synthetic market needs at least 1 item and a 1 s interval")

    @property
    def item_names(self) -> list[str]:
        return item_names(self.items)

    def _item_params(self) -> _ItemParams:
        if self._params is None:
            names = self.item_names
            # Seeded by the base market, not self.name: every simulated market
            # trades the same item along the same path.
            seeds = np.array([_hash64(self.seed, "synthetic", n) for n in names], dtype=np.uint64)
            u = [_uniform(_splitmix64(seeds + np.uint64(k))) for k in range(7)]
            self._params = _ItemParams(
                seeds=seeds,
                base=np.array([_base_price_cents(n, x) for n, x in zip(names, u[0], strict=True)]),
                volatility=0.004 + 0.03 * u[1],
                phase_week=2 * np.pi * u[2],
                phase_day=2 * np.pi * u[3],
                drift=0.6 * (u[4] - 0.5),
                volume=np.maximum(1.0, 40.0 * u[5] ** 3),
                listings=np.floor(5 + 2_000 * u[6] ** 2),
            )
        return self._params

    def _market_premium(self) -> np.ndarray:
        """Per item: this market's price level against the base market (its factor,
        varied ±6% by item so spreads differ between items, as real ones do)."""
        if self.noise_salt == 0:
            return np.full(len(self._item_params().seeds), self.price_factor)
        u = _uniform(_splitmix64(self._item_params().seeds ^ np.uint64(self.noise_salt)))
        return self.price_factor * np.exp(0.12 * (u - 0.5))

    def sample_times(self, window_start: datetime, window_end: datetime) -> np.ndarray:
        """Epoch seconds of the samples in ``[window_start, window_end)``."""
        step = self.interval_seconds
        first = -(-int(window_start.timestamp()) // step) * step
        count = max(0, int(np.ceil((window_end.timestamp() - first) / step)))
        return first + step * np.arange(count, dtype=np.int64)

    def fetch(self, window_start: datetime, window_end: datetime) -> pl.DataFrame:
        times = self.sample_times(window_start, window_end)
        params = self._item_params()
        n_items, n_times = len(params.seeds), len(times)
        if n_times == 0:
            return pl.DataFrame(schema=PRICE_SCHEMA)
        t_days = np.tile(times.astype(np.float64) / _DAY, n_items)
        idx = np.repeat(np.arange(n_items), n_times)
        noise_hash = _splitmix64(
            params.seeds[idx]
            ^ _splitmix64(np.tile(times.astype(np.uint64), n_items) ^ np.uint64(self.noise_salt))
        )
        u1 = _uniform(noise_hash)
        u2 = _uniform(_splitmix64(noise_hash))
        gauss = np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * np.pi * u2)
        vol = params.volatility[idx]
        log_price = (
            3 * vol * np.sin(2 * np.pi * t_days / 7.0 + params.phase_week[idx])
            + vol * np.sin(2 * np.pi * t_days + params.phase_day[idx])
            + params.drift[idx] * (t_days - 20_000.0) / 365.0
            + 0.5 * vol * gauss
        )
        level = params.base[idx] * self._market_premium()[idx]
        price = np.maximum(1, np.rint(level * np.exp(log_price))).astype(np.int64)
        u3 = _uniform(_splitmix64(noise_hash ^ np.uint64(0xA5A5)))
        volume = np.floor(params.volume[idx] * 2 * u3).astype(np.int32)
        listings = np.floor(params.listings[idx] * (0.8 + 0.4 * u2)).astype(np.int32)
        names = pl.Series("market_hash_name", self.item_names, dtype=pl.String)
        return pl.DataFrame(
            {
                "time": pl.Series(np.tile(times * 1_000_000, n_items)).cast(
                    pl.Datetime("us", "UTC")
                ),
                "market_hash_name": names.gather(idx),
                "price_cents": price,
                "volume": volume,
                "listings": listings,
            },
            schema=PRICE_SCHEMA,
        )
