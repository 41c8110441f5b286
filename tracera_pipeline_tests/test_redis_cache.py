"""Redis keys, the newest-wins guard, the atomic ranking swap and pub/sub, on real Redis."""

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import redis

from tracera_pipeline.cache.paced_pipeline import PacedPipeline
from tracera_pipeline.cache.redis_cache import LatestPrice, PriceCache
from tracera_pipeline_tests.helpers import T0

HOUR = timedelta(hours=1)


def _price(item_id: int, minutes: int, cents: int, market: str = "synthetic") -> LatestPrice:
    return LatestPrice(
        item_id,
        f"Item | {item_id} (Field-Tested)",
        market,
        T0 + timedelta(minutes=minutes),
        cents,
        3,
        None,
    )


def _commands_while(redis_client: redis.Redis, action: Callable[[], object]) -> list[str]:
    """Every command Redis ran (MONITOR's text) while ``action`` ran."""
    commands: list[str] = []
    with redis_client.monitor() as monitor:
        action()
        redis_client.ping()  # the end marker
        for entry in monitor.listen():
            if entry["command"] == "PING":
                return commands
            commands.append(entry["command"])
    return commands


def test_latest_price_keys_hold_json_with_ttl_and_older_never_wins(
    redis_client, redis_prefix
) -> None:
    cache = PriceCache(redis_client, redis_prefix, latest_ttl_seconds=600)
    assert cache.set_latest_prices([_price(1, 10, 500), _price(2, 10, 700)]) == 2
    assert cache.set_latest_prices([_price(1, 5, 1)]) == 0  # older: kept out
    assert cache.set_latest_prices([_price(1, 20, 900)]) == 1
    stored = json.loads(redis_client.get(f"{redis_prefix}price:latest:1"))
    assert stored["price_cents"] == 900
    assert stored["market_hash_name"] == "Item | 1 (Field-Tested)"
    assert 0 < redis_client.ttl(f"{redis_prefix}price:latest:1") <= 600


def test_per_market_keys_are_separate_and_guarded(redis_client, redis_prefix) -> None:
    cache = PriceCache(redis_client, redis_prefix, latest_ttl_seconds=600)
    assert cache.set_market_prices([_price(1, 10, 500, "steam"), _price(1, 12, 450, "skinport")])
    assert cache.set_market_prices([_price(1, 5, 1, "steam")]) == 0  # older: kept out
    assert cache.get_market_price("steam", 1)["price_cents"] == 500
    assert cache.get_market_price("skinport", 1)["price_cents"] == 450
    assert cache.get_latest_price(1) is None  # the reference key is separate


def test_rankings_never_expire_after_a_swap(redis_client, redis_prefix) -> None:
    cache = PriceCache(redis_client, redis_prefix)
    for n, market in enumerate((None, "steam")):
        assert cache.replace_ranking("7d", {1: 0.5, 2: 0.25}, T0 + timedelta(hours=n), market)
        key = cache.ranking_key("7d", market)
        assert redis_client.zcard(key) == 2
        # The temporary key's 600 s expiry must not survive the RENAME: no TTL at all.
        assert redis_client.ttl(key) == -1
    assert cache.ranking_key("7d", "steam") == f"{redis_prefix}rankings:volatile:7d:steam"


def test_spreads_and_their_details_swap_together(redis_client, redis_prefix) -> None:
    cache = PriceCache(redis_client, redis_prefix)
    details = {7: {"buy": "synthetic_buff", "sell": "steam"}, 9: {"buy": "a", "sell": "b"}}
    assert cache.replace_spreads({7: 12.5, 9: -1.0}, details, T0)
    assert cache.top_spreads() == [(7, 12.5, details[7]), (9, -1.0, details[9])]
    assert redis_client.ttl(cache.spreads_key()) == -1
    assert not cache.replace_spreads({1: 1.0}, {1: {}}, T0 - timedelta(hours=1))  # older
    assert cache.replace_spreads({}, {}, T0 + timedelta(hours=1))  # newer, empty: cleared
    assert cache.top_spreads() == []


def test_ranking_swap_is_atomic_and_newest_wins(redis_client, redis_prefix) -> None:
    cache = PriceCache(redis_client, redis_prefix)
    key = cache.ranking_key("24h")
    big_a = {i: float(i) for i in range(1, 2001)}
    big_b = {i: float(-i) for i in range(1, 1001)}
    assert cache.replace_ranking("24h", big_a, T0)
    seen_sizes: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen_sizes.add(redis_client.zcard(key))

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(10):
        cache.replace_ranking("24h", big_b if n % 2 == 0 else big_a, T0 + timedelta(hours=n + 1))
    stop.set()
    thread.join()
    assert seen_sizes <= {1000, 2000}  # never a half-built ranking
    assert not cache.replace_ranking("24h", {1: 1.0}, T0)  # older as-of: refused
    assert redis_client.zcard(key) == 2000
    assert cache.top_volatile("24h", 3) == [(2000, 2000.0), (1999, 1999.0), (1998, 1998.0)]
    assert (
        list(redis_client.scan_iter(match=f"{redis_prefix}rankings:volatile:24h:building:*")) == []
    )


def test_messages_are_published_on_the_prices_channel(redis_client, redis_prefix) -> None:
    cache = PriceCache(redis_client, redis_prefix)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(cache.channel("prices"))
    pubsub.get_message(timeout=1)  # subscription confirmation
    assert cache.publish("prices", {"as_of": "x", "items": 3}) == 1
    deadline, message = time.time() + 5, None
    while message is None and time.time() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
    pubsub.close()
    assert message is not None and json.loads(message["data"]) == {"as_of": "x", "items": 3}


def test_batches_of_keys_keep_each_key_guarded(redis_client, redis_prefix) -> None:
    """Prices go to Redis twenty keys per script call: the guard is per key, across
    and within batches, and the count is what was written."""
    cache = PriceCache(redis_client, redis_prefix)
    assert cache.set_latest_prices([_price(i, 30, 1000 + i) for i in range(250)]) == 250
    # Even items get an older price (refused), odd ones a newer one (written).
    mixed = [_price(i, 20 if i % 2 == 0 else 40, 5000 + i) for i in range(250)]
    assert cache.set_latest_prices(mixed) == 125
    assert cache.get_latest_price(0)["price_cents"] == 1000
    assert cache.get_latest_price(1)["price_cents"] == 5001
    assert cache.get_latest_price(248)["price_cents"] == 1248
    assert cache.get_latest_price(249)["price_cents"] == 5249
    assert 0 < redis_client.ttl(cache.latest_price_key(249)) <= cache.latest_ttl_seconds


def test_a_large_ranking_swaps_in_with_bounded_commands(redis_client, redis_prefix) -> None:
    """Redis runs one command at a time: a ranking of 5,000 members goes in by ZADDs of
    at most 64 members, and the ranking it replaces is UNLINKed (freed off Redis's
    main thread) before the RENAME, which thus never frees a large value itself."""
    cache = PriceCache(redis_client, redis_prefix)
    key = cache.ranking_key("24h")
    assert cache.replace_ranking("24h", {i: float(i) for i in range(5000)}, T0)
    swapped: list[bool] = []
    seen = _commands_while(
        redis_client,
        lambda: swapped.append(
            cache.replace_ranking("24h", {i: float(-i) for i in range(5000)}, T0 + HOUR)
        ),
    )
    assert swapped == [True]
    commands = [
        [word.strip('"') for word in words]
        for words in (command.split() for command in seen)
        if len(words) > 1 and words[1].strip('"').startswith(key)
    ]
    zadds = [words for words in commands if words[0] == "ZADD"]
    assert zadds and max((len(words) - 2) // 2 for words in zadds) <= 64
    assert sum((len(words) - 2) // 2 for words in zadds) == 5000
    names = [words[0] for words in commands]
    # The old ranking is unlinked, then the new one renamed onto its name.
    assert names.index("UNLINK") < names.index("RENAME")
    assert redis_client.zcard(key) == 5000
    assert cache.top_volatile("24h", 1) == [(0, -0.0)]


def test_prices_go_twenty_keys_per_script_call(redis_client, redis_prefix) -> None:
    """A script runs alone in Redis: 20 guarded keys per call keeps each call short
    (100 held Redis ~0.6 ms), and every price still arrives."""
    cache = PriceCache(redis_client, redis_prefix)
    prices = [_price(i, 30, 1000 + i) for i in range(105)]
    seen = _commands_while(redis_client, lambda: cache.set_latest_prices(prices))
    calls = [
        int(command.split()[2].strip('"'))  # numkeys
        for command in seen
        if command.split()[0] in ("EVALSHA", "EVAL") and redis_prefix in command
    ]
    assert cache.get_latest_price(104)["price_cents"] == 1104
    assert calls and max(calls) <= 20 and sum(calls) == 105


def test_a_name_cannot_forge_the_time_the_guard_reads(redis_client, redis_prefix) -> None:
    """The guard reads a cached price's time from its JSON with a pattern: a name that
    spells the time field out (quotes and all) must neither win against a newer price
    nor keep a newer one out."""
    cache = PriceCache(redis_client, redis_prefix)
    forged = 'Forged "time_us": 99999999999999999 | "x"'
    older = LatestPrice(1, forged, "synthetic", T0, 100, markets={"time_us": 9**17}, rule="x")
    assert cache.set_latest_prices([_price(1, 30, 500)]) == 1
    assert cache.set_latest_prices([older]) == 0
    assert cache.get_latest_price(1)["price_cents"] == 500
    assert cache.set_latest_prices([LatestPrice(2, forged, "synthetic", T0, 100)]) == 1
    assert cache.set_latest_prices([_price(2, 30, 700)]) == 1  # newer: written
    assert cache.get_latest_price(2)["price_cents"] == 700


def test_ranking_scores_arrive_exactly(redis_client, redis_prefix) -> None:
    """Members and scores travel to Redis as one JSON array per chunk: every score
    must come back bit for bit, however many digits it has."""
    cache = PriceCache(redis_client, redis_prefix)
    scores = {1: 0.1 + 0.2, 2: 1 / 3, 3: 1e-300, 4: 123456789.12345679, 5: 2.0**60, 6: -0.0}
    scores.update({1000 + i: i / 7 for i in range(600)})  # more than one chunk
    assert cache.replace_ranking("1h", scores, T0)
    stored = dict(redis_client.zrange(cache.ranking_key("1h"), 0, -1, withscores=True))
    assert {int(member): score for member, score in stored.items()} == scores


def test_documents_cached_by_an_earlier_version_stay_guarded(redis_client, redis_prefix) -> None:
    """Prices cached before the compact encoding (a space after each colon) keep the
    guard: an older price does not replace them, a newer one does."""
    cache = PriceCache(redis_client, redis_prefix)
    newer = _price(1, 30, 500)
    legacy = json.dumps(json.loads(newer.to_json()))  # json.dumps' ", " and ": "
    assert '"time_us": ' in legacy
    redis_client.set(cache.latest_price_key(1), legacy)
    assert cache.set_latest_prices([_price(1, 20, 1)]) == 0
    assert cache.get_latest_price(1)["price_cents"] == 500
    assert cache.set_latest_prices([_price(1, 40, 700)]) == 1
    assert cache.get_latest_price(1)["price_cents"] == 700


def test_writes_go_a_few_commands_per_round_trip(redis_client, redis_prefix, monkeypatch) -> None:
    """Redis runs all the commands one read brings before it serves another client:
    a warm sent as one pipeline held readers ~1.5 ms. Every trip is bounded, and
    every reply still counts."""
    trips: list[int] = []
    execute = redis.client.Pipeline.execute

    def counted(pipe: redis.client.Pipeline, *args, **kwargs):
        trips.append(len(pipe))
        return execute(pipe, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", counted)
    cache = PriceCache(redis_client, redis_prefix)
    assert cache.set_latest_prices([_price(i, 30, 1000 + i) for i in range(1000)]) == 1000
    assert max(trips) <= 4 and sum(trips) == 1000 // 20
    trips.clear()
    assert cache.replace_ranking("7d", {i: float(i) for i in range(5000)}, T0)
    assert max(trips) <= 4 and redis_client.zcard(cache.ranking_key("7d")) == 5000


def test_a_fill_abandoned_between_trips_leaves_a_key_that_expires(
    redis_client, redis_prefix
) -> None:
    cache = PriceCache(redis_client, redis_prefix)
    temporary = cache.key("rankings", "volatile", "1h", "building", "abandoned")
    paced = PacedPipeline(redis_client)
    cache._zadd(paced, temporary, {str(i): float(i) for i in range(1000)})  # never finished
    assert 0 < redis_client.zcard(temporary) < 1000
    assert 0 < redis_client.ttl(temporary) <= 600


def test_scripts_are_made_sure_of_once_per_warm(redis_client, redis_prefix) -> None:
    """Even after Redis forgot its scripts: loaded once, then called by hash."""
    cache = PriceCache(redis_client, redis_prefix)
    redis_client.script_flush()
    prices = [_price(i, 30, 1000 + i) for i in range(400)]
    seen = _commands_while(redis_client, lambda: cache.set_latest_prices(prices))
    script_commands = [command.split()[1] for command in seen if command.startswith("SCRIPT")]
    assert script_commands == ["EXISTS", "LOAD"]
    assert cache.get_latest_price(399)["price_cents"] == 1399


def test_scripts_lost_between_trips_are_loaded_again(redis_client, redis_prefix) -> None:
    """A SCRIPT FLUSH, or a failover to a replica that never loaded them, mid-warm."""
    cache = PriceCache(redis_client, redis_prefix)
    paced = PacedPipeline(redis_client)
    for minutes in (10, 20):
        key = cache.latest_price_key(minutes)
        paced.script(cache._set_if_newer, [key], [_price(1, minutes, 5).to_json(), 600])
        paced.pipe.expire(key, 600)
    redis_client.script_flush()
    assert paced.results() == [1, True, 1, True]
    assert cache.get_latest_price(10)["price_cents"] == 5


def test_rankings_of_markets_no_longer_ingested_go_once_older(redis_client, redis_prefix) -> None:
    cache = PriceCache(redis_client, redis_prefix)
    for market in ("steam", "buff"):
        assert cache.replace_ranking("24h", {1: 0.5, 2: 0.1}, T0, market=market)
    assert cache.drop_market_rankings(["24h"], ["buff"], T0) == 0  # not older: kept
    assert cache.drop_market_rankings(["1h", "24h"], ["buff", "csfloat"], T0 + HOUR) == 1
    assert not redis_client.exists(cache.ranking_key("24h", "buff"))
    assert not redis_client.exists(cache.ranking_key("24h", "buff") + ":as_of")
    assert redis_client.zcard(cache.ranking_key("24h", "steam")) == 2
    assert cache.drop_market_rankings(["24h"], [], T0 + HOUR) == 0
