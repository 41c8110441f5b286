"""The shared provider HTTP layer against a real local HTTP server, and the Redis
rate budget across processes."""

import json
import multiprocessing
import time
import uuid

import pytest
import redis
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tracera_pipeline.providers.errors import (
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimited,
    ProviderResponseError,
)
from tracera_pipeline.providers.http_client import HttpSettings, ProviderHttpClient
from tracera_pipeline.providers.rate_budget import RateBudget
from tracera_pipeline_tests.conftest import REDIS_URL
from tracera_pipeline_tests.helpers import Sleeps

# A generous read timeout: on a loaded machine the local server can take a moment,
# and a spurious timeout would consume the next scripted response.
FAST = HttpSettings(
    read_timeout=3.0,
    connect_timeout=0.5,
    total_timeout=10,
    max_retries=3,
    backoff_base=0.01,
    backoff_max=0.05,
    max_response_bytes=10_000,
)
OK = {"success": True}


def _client(server: HTTPServer, sleeps: Sleeps | None = None, **kwargs) -> ProviderHttpClient:
    return ProviderHttpClient(
        "acme",
        server.url_for("/"),
        settings=kwargs.pop("settings", FAST),
        sleep=sleeps if sleeps is not None else Sleeps(),
        **kwargs,
    )


def _sequence(server: HTTPServer, path: str, *responses: Response) -> None:
    for response in responses:
        server.expect_ordered_request(path).respond_with_response(response)


def _hits(server: HTTPServer, path: str) -> int:
    """Requests the server saw for ``path`` (a slow handler from another test may log late)."""
    return sum(1 for request, _ in server.log if request.path == path)


def _json(body: object, status: int = 200, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")


def test_5xx_and_429_null_without_retry_after_are_retried_with_backoff(httpserver) -> None:
    _sequence(httpserver, "/prices", _json({"e": 1}, 503), _json(None, 429), _json(OK))
    sleeps = Sleeps()
    assert _client(httpserver, sleeps).get_json("prices").data == OK
    assert _hits(httpserver, "/prices") == 3
    assert len(sleeps) == 2 and all(0 < s <= FAST.backoff_max for s in sleeps)


def test_4xx_is_not_retried_and_names_provider_and_endpoint(httpserver) -> None:
    httpserver.expect_request("/items").respond_with_json({"message": "nope"}, status=404)
    with pytest.raises(ProviderHTTPError, match=r"acme /items: HTTP 404") as error:
        _client(httpserver).get_json("items", {"q": "x"})
    assert error.value.status == 404
    assert _hits(httpserver, "/items") == 1


def test_retry_after_seconds_and_ratelimit_reset_are_obeyed(httpserver) -> None:
    reset = int(time.time()) + 30
    _sequence(
        httpserver,
        "/p",
        _json(None, 429, **{"Retry-After": "2"}),
        _json({}, 429, **{"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": str(reset)}),
        _json(OK),
    )
    sleeps = Sleeps()
    settings = HttpSettings(**{**FAST.__dict__, "total_timeout": 60})
    assert _client(httpserver, sleeps, settings=settings).get_json("p").data == OK
    assert sleeps[0] == 2.0
    assert 27 <= sleeps[1] <= 30


def test_persistent_429_gives_up_as_rate_limited(httpserver) -> None:
    httpserver.expect_request("/p").respond_with_data(
        "null", status=429, content_type="application/json"
    )
    with pytest.raises(ProviderRateLimited, match="still rate limited after 4 attempt"):
        _client(httpserver).get_json("p")
    assert _hits(httpserver, "/p") == FAST.max_retries + 1


def test_a_retry_after_beyond_the_time_budget_fails_at_once(httpserver) -> None:
    httpserver.expect_request("/p").respond_with_response(
        _json(None, 429, **{"Retry-After": "3600"})
    )
    sleeps = Sleeps()
    with pytest.raises(ProviderRateLimited):
        _client(httpserver, sleeps).get_json("p")
    assert sleeps == [] and _hits(httpserver, "/p") == 1


def test_timeouts_are_retried_then_reported(httpserver) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return _json(OK)

    httpserver.expect_request("/slow").respond_with_handler(slow)
    settings = HttpSettings(**{**FAST.__dict__, "max_retries": 1, "read_timeout": 0.3})
    with pytest.raises(ProviderError, match=r"gave up after 2 attempt.*ReadTimeout"):
        _client(httpserver, settings=settings).get_json("slow")


def _cut(body: bytes, declared: int) -> Response:
    """A body shorter than its Content-Length; the connection then closes."""
    response = Response(body, mimetype="application/json")
    response.automatically_set_content_length = False
    response.headers["Content-Length"] = str(declared)  # after: the constructor sets it
    return response


def test_truncated_body_is_transient_and_retried(httpserver) -> None:
    _sequence(httpserver, "/t", _cut(b'{"data": [1, 2', 500), _json(OK))
    assert _client(httpserver).get_json("t").data == OK
    assert _hits(httpserver, "/t") == 2


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (Response("{not json", mimetype="application/json"), "malformed JSON"),
        (Response("<html>captcha</html>", mimetype="text/html"), "expected JSON, got content-type"),
        (_json({"x": "y" * 20_000}), "exceeds the 10000-byte cap"),
    ],
)
def test_bad_bodies_are_clear_errors_without_retry(httpserver, response, message) -> None:
    httpserver.expect_request("/b").respond_with_response(response)
    with pytest.raises(ProviderResponseError, match=message):
        _client(httpserver).get_json("b")
    assert _hits(httpserver, "/b") == 1


def test_streamed_body_over_the_cap_is_cut_off(httpserver) -> None:
    def chunks():
        for _ in range(50):
            yield b" " * 1000

    streamed = Response(chunks(), mimetype="application/json")
    httpserver.expect_request("/big").respond_with_response(streamed)
    with pytest.raises(ProviderResponseError, match="exceeds the 10000-byte cap"):
        _client(httpserver).get_json("big")


def test_secrets_never_appear_in_errors_or_logs(httpserver, caplog) -> None:
    secret = "sk_live_" + uuid.uuid4().hex
    httpserver.expect_request("/me").respond_with_json({"error": f"bad key {secret}"}, status=401)
    client = _client(httpserver, headers={"Authorization": secret}, secrets=[secret])
    with pytest.raises(ProviderHTTPError) as error:
        client.get_json("me")
    (seen,) = [request for request, _ in httpserver.log if request.path == "/me"]
    assert seen.headers["Authorization"] == secret
    assert secret not in str(error.value) and "***" in str(error.value)
    assert secret not in caplog.text


def test_get_many_keeps_order_and_reports_failures_in_place(httpserver) -> None:
    for i in range(6):
        httpserver.expect_request("/i", query_string=f"n={i}").respond_with_json({"n": i})
    httpserver.expect_request("/i", query_string="n=bad").respond_with_json({}, status=400)
    results = _client(httpserver).get_many(
        [("i", {"n": i}) for i in range(6)] + [("i", {"n": "bad"})], max_workers=3
    )
    assert [r.data["n"] for r in results[:6]] == list(range(6))
    assert isinstance(results[6], ProviderHTTPError)


def _take_slots(prefix: str, attempts: int, queue: multiprocessing.Queue) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    budget = RateBudget(client, "acme", limit=7, period_seconds=30, prefix=prefix)
    queue.put(sum(1 for _ in range(attempts) if budget.try_acquire() == 0))


def test_rate_budget_is_shared_by_processes(redis_prefix) -> None:
    queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_take_slots, args=(redis_prefix, 10, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    # 20 attempts over two processes, 7 slots in the window: exactly 7 granted.
    assert queue.get(timeout=5) + queue.get(timeout=5) == 7


def test_rate_budget_waits_for_a_free_slot_and_a_block_applies_to_all(
    redis_client, redis_prefix
) -> None:
    sleeps = Sleeps()
    budget = RateBudget(
        redis_client,
        "acme",
        limit=2,
        period_seconds=0.3,
        prefix=redis_prefix,
        sleep=lambda s: (sleeps.append(s), time.sleep(s)),
    )
    deadline = time.monotonic() + 5
    for _ in range(3):
        budget.acquire(deadline)
    # One wait for the window (10% safety margin); a wake-up a hair early may add a
    # millisecond's second wait, never a second window.
    assert 0 < sleeps[0] <= 0.3 * 1.1 and sum(sleeps[1:]) < 0.02
    other = RateBudget(redis_client, "acme", limit=100, period_seconds=60, prefix=redis_prefix)
    other.block_until(time.time() + 2)
    assert 1.0 < budget.try_acquire() <= 2.0


def test_an_error_status_the_adapter_reads_as_an_answer_is_returned_once(httpserver) -> None:
    _sequence(
        httpserver,
        "/a",
        _json({"success": False}, 500),  # an answer: returned, not retried
        Response("<html>Internal error</html>", status=500, mimetype="text/html"),
        _json(OK),
    )

    def answer(status: int, body: bytes) -> bool:
        return status == 500 and body.startswith(b'{"success"')

    client = _client(httpserver)
    first = client.get_json("a", answer=answer)
    assert (first.status, first.data) == (500, {"success": False})
    assert _hits(httpserver, "/a") == 1
    second = client.get_json("a", answer=answer)  # the HTML 500 is retried
    assert (second.status, second.data) == (200, OK)
    assert _hits(httpserver, "/a") == 3


def test_a_rejected_key_fails_at_once_with_the_adapters_hint(httpserver) -> None:
    httpserver.expect_request("/me").respond_with_json({"message": "Unauthorized"}, status=401)
    client = _client(httpserver, hints={401: "set ACME_API_KEY to a valid key"})
    with pytest.raises(ProviderHTTPError) as error:
        client.get_json("me")
    assert error.value.permanent
    assert str(error.value).endswith("; set ACME_API_KEY to a valid key")
    assert _hits(httpserver, "/me") == 1


@pytest.mark.parametrize(("status", "permanent"), [(400, True), (404, True), (408, False)])
def test_4xx_are_permanent_except_timeouts(httpserver, status: int, permanent: bool) -> None:
    httpserver.expect_request("/s").respond_with_json({}, status=status)
    with pytest.raises(ProviderError) as error:
        _client(httpserver).get_json("s")
    assert error.value.permanent is permanent
    assert _hits(httpserver, "/s") == (1 if permanent else FAST.max_retries + 1)


def test_a_body_cut_at_the_same_byte_twice_is_permanent(httpserver) -> None:
    _sequence(httpserver, "/cut", _cut(b"x" * 700, 5000), _cut(b"x" * 700, 5000), _json(OK))
    with pytest.raises(ProviderResponseError, match="cut off after 700 bytes") as error:
        _client(httpserver).get("cut")
    assert error.value.permanent
    assert _hits(httpserver, "/cut") == 2  # not downloaded again and again


def test_bodies_cut_at_different_bytes_are_retried(httpserver) -> None:
    _sequence(httpserver, "/cut", _cut(b"x" * 700, 5000), _cut(b"x" * 900, 5000), _json(OK))
    assert _client(httpserver).get_json("cut").data == OK
    assert _hits(httpserver, "/cut") == 3


def test_retry_waits_are_the_documented_exponential_backoff(httpserver) -> None:
    # README: retry n waits between half and all of 1 s x 2^(n-1), 4 retries.
    httpserver.expect_request("/down").respond_with_json({}, status=503)
    sleeps = Sleeps()
    defaults = HttpSettings()
    with pytest.raises(ProviderError, match="gave up after 5 attempt"):
        _client(httpserver, sleeps, settings=HttpSettings(read_timeout=1)).get("down")
    assert defaults.max_retries == 4 and defaults.backoff_base == 1.0
    assert len(sleeps) == 4
    for retry, wait in enumerate(sleeps, 1):
        assert 2 ** (retry - 1) / 2 <= wait <= 2 ** (retry - 1)


def test_stream_hands_over_chunks_under_the_cap_and_retries_a_cut_body(httpserver) -> None:
    body = json.dumps([{"n": i} for i in range(300)]).encode()
    _sequence(
        httpserver,
        "/big",
        _cut(body[:1000], len(body)),
        Response(body, mimetype="application/json"),
    )
    calls: list[int] = []

    def consume(chunks) -> int:
        calls.append(0)
        return len(json.loads(b"".join(chunks)))

    settings = HttpSettings(**{**FAST.__dict__, "max_response_bytes": 100_000})
    assert _client(httpserver, settings=settings).stream("big", None, consume) == 300
    assert len(calls) == 2 and _hits(httpserver, "/big") == 2
    small = HttpSettings(**{**FAST.__dict__, "max_response_bytes": 2_000})
    httpserver.expect_request("/big2").respond_with_data(body, content_type="application/json")
    with pytest.raises(ProviderResponseError, match="TRACERA_HTTP_MAX_RESPONSE_MB") as error:
        _client(httpserver, settings=small).stream("big2", None, consume)
    assert error.value.permanent
