"""Redis errors as one sentence naming ``TRACERA_REDIS_URL`` and the fix, never the
password.

Permanent (fail at once): a URL that is not a Redis URL, a host that does not
resolve, refused credentials, a database index the server does not have. Transient
(the step is retried): refused connections and timeouts, what a Redis restart or
failover looks like, and a server still loading its data.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import redis

URL_VARIABLE = "TRACERA_REDIS_URL"
_SCHEMES = ("redis", "rediss", "unix")


class RedisUnavailable(RuntimeError):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in _SCHEMES:
        return (
            f"{URL_VARIABLE} is not a Redis URL; write it as redis://[:password@]host:port/0"
            " (percent-encode special characters of the password)"
        )
    return None


def where(url: str) -> str:
    try:
        parts = urlsplit(url)
        if parts.scheme == "unix":
            return f"Redis at socket {parts.path}"
        return f"Redis at {parts.hostname or 'localhost'}:{parts.port or 6379}"
    except ValueError:
        return f"the Redis server in {URL_VARIABLE}"


_NAME_NOT_RESOLVED = re.compile(
    r"name or service not known|nodename nor servname|temporary failure in name resolution"
    r"|no address associated"
)


def describe_error(exc: BaseException, url: str) -> RedisUnavailable:
    problem = url_problem(url)
    if problem:
        return RedisUnavailable(problem, permanent=True)
    text, place = str(exc).lower(), where(url)
    if isinstance(exc, redis.AuthenticationError) or re.search(
        r"noauth|wrongpass|invalid password|invalid username-password", text
    ):
        return RedisUnavailable(
            f"{place} refused the credentials; set the right user and password in"
            f" {URL_VARIABLE} (redis://user:password@host:port/0)",
            permanent=True,
        )
    if _NAME_NOT_RESOLVED.search(text):
        return RedisUnavailable(
            f"the host in {URL_VARIABLE} does not resolve; fix the host name", permanent=True
        )
    if "db index is out of range" in text:
        return RedisUnavailable(
            f"{place} has no database with the number in {URL_VARIABLE}; end it with /0",
            permanent=True,
        )
    if isinstance(exc, redis.BusyLoadingError):
        return RedisUnavailable(f"{place} is still loading its data; wait for it", permanent=False)
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return RedisUnavailable(
            f"nothing answers at {place} (is Redis running?); start it, or fix the host and port"
            f" in {URL_VARIABLE}",
            permanent=False,
        )
    return RedisUnavailable(
        f"{place} failed ({type(exc).__name__}); the step is tried again (if this repeats,"
        f" check the server and {URL_VARIABLE})",
        permanent=False,
    )
