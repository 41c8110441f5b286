"""Connections to PostgreSQL that cannot stall silently or leak the password.

* Client-side limits: ``connect_timeout``, TCP keepalives and ``tcp_user_timeout``
  (a dead host or network is noticed within about a minute), and the server-side
  ``statement_timeout`` / ``idle_in_transaction_session_timeout`` for pooled
  connections (set per session, so they work through PgBouncer too). A URL's own
  values win over these defaults.
* Errors: a failed connection becomes a ``DatabaseConnectionError`` whose message is
  one sentence naming ``TRACERA_DATABASE_URL`` (or the setting at fault) and the fix,
  built from what we parsed, never from the driver's text: libpq echoes parts of the
  URL (a password with an unencoded ``@`` ends up in the "host" it cannot resolve).
  ``permanent`` says whether trying again can help (see ``describe_error``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

URL_VARIABLE = "TRACERA_DATABASE_URL"
# Keepalive probes every 10 s, 3 unanswered: dead (after keepalives_idle of silence).
_KEEPALIVE_INTERVAL, _KEEPALIVE_COUNT = 10, 3
_ENCODING_HINT = (
    "percent-encode special characters of the user name and password"
    " (space %20, @ %40, : %3A, / %2F)"
)


class DatabaseConnectionError(RuntimeError):
    """PostgreSQL cannot be used; the message is one sentence naming the fix."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class ConnectionLimits:
    """Seconds; 0 disables the two server-side timeouts (as in PostgreSQL)."""

    connect_timeout: int = 10
    keepalives_idle: int = 30
    statement_timeout: int = 600
    idle_in_transaction_timeout: int = 300

    def conninfo(self, url: str) -> str:
        """``url`` plus the client-side limits it does not set itself."""
        own = conninfo_to_dict(url)
        dead_after_ms = (self.keepalives_idle + _KEEPALIVE_INTERVAL * _KEEPALIVE_COUNT) * 1000
        limits = {
            "connect_timeout": self.connect_timeout,
            "keepalives": 1,
            "keepalives_idle": self.keepalives_idle,
            "keepalives_interval": _KEEPALIVE_INTERVAL,
            "keepalives_count": _KEEPALIVE_COUNT,
            # Also bounds data the server never acknowledges (a COPY into a dead link).
            "tcp_user_timeout": dead_after_ms,
        }
        return make_conninfo(url, **{k: v for k, v in limits.items() if k not in own})

    def apply_session_limits(self, conn: psycopg.Connection) -> None:
        """Pool ``configure`` hook: the server-side timeouts for this session.

        Migrations run on a connection without them: an upgrade that recomputes
        every bucket may rightly take longer than any statement of a step."""
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('idle_in_transaction_session_timeout', %s, false)",
            (f"{self.statement_timeout}s", f"{self.idle_in_transaction_timeout}s"),
        )


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a PostgreSQL URL, in one sentence, without echoing it."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return f"{URL_VARIABLE} is not a valid PostgreSQL URL; {_ENCODING_HINT}"
    if "@" in str(params.get("host") or ""):
        # libpq splits at the first "@": the rest of the password became the host.
        return (
            f"{URL_VARIABLE} has an '@' in its password or user name that is not"
            " percent-encoded; write it as %40"
        )
    if not params.get("dbname"):
        return f"{URL_VARIABLE} names no database; end it with /<database>, e.g. /tracera"
    return None


def where(url: str) -> str:
    """``PostgreSQL at host:port`` for messages (no user, no password)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "the PostgreSQL server in " + URL_VARIABLE
    host = str(params.get("host") or "localhost")
    if "@" in host:
        return "the PostgreSQL server in " + URL_VARIABLE
    if host.startswith("/"):
        return f"PostgreSQL at socket directory {host}"
    return f"PostgreSQL at {host}:{params.get('port') or 5432}"


def _param(url: str, name: str, default: str) -> str:
    try:
        return str(conninfo_to_dict(url).get(name) or default)
    except psycopg.Error:
        return default


# (pattern in libpq's message, permanent, fix). Checked in order; libpq's connection
# errors carry no SQLSTATE, so their text is all there is to go on.
_CONNECT_FAILURES: tuple[tuple[str, bool, str], ...] = (
    (
        r"password authentication failed",
        True,
        "{where} refused the password of user {user!r}; set the right password in"
        f" {URL_VARIABLE} or PGPASSWORD ({_ENCODING_HINT})",
    ),
    (
        r"no password supplied|password is required",
        True,
        "{where} wants a password for user {user!r}; add it to {var}"
        " (postgresql://user:password@host:port/database)",
    ),
    (
        r'role ".*" does not exist',
        True,
        "{where} has no role {user!r}; fix the user name in {var} or create the role",
    ),
    (
        r"no pg_hba\.conf entry",
        True,
        "{where} does not let user {user!r} connect from here (pg_hba.conf); allow it there"
        " or use another user in {var}",
    ),
    (
        r'database ".*" does not exist',
        True,
        "{where} has no database {dbname!r}; create it or fix the database name in {var}",
    ),
    (
        r"failed to resolve host|could not translate host name",
        True,
        "the host {host!r} in {var} does not resolve; fix the host name",
    ),
    (
        r"connection refused|no such file or directory",
        False,
        "nothing accepts connections at {where_short} (is PostgreSQL running?); start it, or"
        " fix the host and port in {var}",
    ),
    (
        r"timeout expired",
        False,
        "{where} did not answer within {timeout} s (TRACERA_DB_CONNECT_TIMEOUT_SECONDS); check"
        " that it is running and reachable, or fix {var}",
    ),
    (
        r"too many clients|remaining connection slots",
        False,
        "{where} has no free connection slot (max_connections); lower TRACERA_DB_POOL_MAX_SIZE"
        " or raise max_connections on the server",
    ),
    (
        r"starting up|shutting down|recovery mode|not yet accepting connections",
        False,
        "{where} is starting up or shutting down; wait for it to accept connections",
    ),
)


def describe_error(
    exc: BaseException, url: str, limits: ConnectionLimits
) -> DatabaseConnectionError:
    """One sentence for a failure to connect to, or a lost connection with, ``url``.

    Permanent (failing at once; retrying cannot heal): an unparsable URL, a wrong
    password or user, a host name that does not resolve, a missing database, a
    statement cut by TRACERA_DB_STATEMENT_TIMEOUT_SECONDS (it would be cut again).
    Transient (retried): refused connections and timeouts — what a PostgreSQL
    restart, failover or a paused server look like — full connection slots, and a
    connection lost mid-way.
    """
    problem = url_problem(url)
    if problem:
        return DatabaseConnectionError(problem, permanent=True)
    if isinstance(exc, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc):
        return DatabaseConnectionError(
            f"a statement ran longer than TRACERA_DB_STATEMENT_TIMEOUT_SECONDS="
            f"{limits.statement_timeout}; raise it (0 disables it) or look for a lock held by"
            " another session",
            permanent=True,
        )
    if isinstance(exc, psycopg.errors.IdleInTransactionSessionTimeout):
        return DatabaseConnectionError(
            "the server ended a transaction left idle longer than"
            f" TRACERA_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS={limits.idle_in_transaction_timeout}"
            "; the step is tried again (raise the setting if this repeats)",
            permanent=False,
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege) and "create database" in str(exc):
        return DatabaseConnectionError(
            f"user {_param(url, 'user', 'postgres')!r} may not create database"
            f" {_param(url, 'dbname', '?')!r}; create it once as a superuser, grant CREATEDB, or"
            f" point {URL_VARIABLE} at an existing database",
            permanent=True,
        )
    text = str(exc).lower()
    fields = {
        "where": where(url),
        "where_short": where(url).removeprefix("PostgreSQL at "),
        "user": _param(url, "user", "postgres"),
        "dbname": _param(url, "dbname", "?"),
        "host": _param(url, "host", "localhost"),
        "var": URL_VARIABLE,
        "timeout": limits.connect_timeout,
    }
    for pattern, permanent, template in _CONNECT_FAILURES:
        if re.search(pattern, text):
            return DatabaseConnectionError(template.format(**fields), permanent=permanent)
    return DatabaseConnectionError(
        f"the connection to {fields['where']} failed or was lost; the step is tried again"
        f" (if this repeats, check the server's log and {URL_VARIABLE})",
        permanent=False,
    )


def secret_fragments(url: str) -> list[str]:
    """The password of ``url`` as parsed and as written (they differ when it is not
    percent-encoded), longest first, for masking."""
    found: set[str] = set()
    try:
        if password := conninfo_to_dict(url).get("password"):
            found.add(str(password))
    except psycopg.Error:
        pass
    if "://" in url:
        userinfo = url.split("://", 1)[1].rpartition("@")[0]
        if ":" in userinfo:
            found.add(userinfo.partition(":")[2])
    # Shorter ones would mask letters all over a message; messages are built without
    # the driver's text anyway, so masking is the second line of defence.
    return sorted((f for f in found if len(f) >= 4), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` with ``url`` and its password (4 characters or more) masked."""
    for secret in [url, *secret_fragments(url)]:
        text = text.replace(secret, "***")
    return text
