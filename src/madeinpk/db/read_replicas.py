"""Reads that tolerate staleness, sent to PostgreSQL streaming replicas (``DATABASE_REPLICA_URLS``).

One place decides where a read goes. A service asks for ``await stale_read(query)``; everything
else (``await query``) runs on the primary, as it always did. ``stale_read`` still runs on the
primary when:

- there are no replicas (SQLite, or PostgreSQL without ``DATABASE_REPLICA_URLS``), or this
  process never started them (the task worker, the CLI: only app processes read off replicas);
- the read is inside a transaction on the primary (it is part of a decision);
- the request writes (any method but GET, HEAD and OPTIONS) or is a WebSocket: the body a write
  answers with is read after its commit, and must show it;
- the account making the request wrote within the last ``max_lag + 2 * check_interval``
  seconds: no replica in use is staler than that, so a writer always reads its own writes. The
  pin is kept in this process and, with ``REDIS_URL``, in Redis, where every app process sees it
  (the writer's next request may reach another one);
- no replica is healthy (all lag more than ``DATABASE_REPLICA_MAX_LAG``, or are unreachable).

Replicas are checked in the background every ``DATABASE_REPLICA_CHECK_INTERVAL`` seconds, never
on a request's path. Lag is measured by WAL positions, not by the replay timestamp (which grows
for ever on an idle primary although the replica has everything): each check samples the
primary's ``pg_current_wal_lsn()``, then each replica's ``pg_last_wal_replay_lsn()``. A replica
that has replayed the latest sample is current (lag 0); otherwise its lag is the age of the
newest sample it has replayed, an upper bound on how old what it shows can be. A replica that
fails a query is taken out at once and the read is retried on the primary: a replica's death
never reaches the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import asyncpg
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.apps.user.tables import BaseUser
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis, RedisCluster

from madeinpk.db.sql import SESSION_SETTINGS, is_postgres
from madeinpk.redis_io.redis_topology import redis_client
from madeinpk.settings import Settings

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0  # a check that takes longer counts the node as unreachable
CONNECT_TIMEOUT = 2.0
REDIS_TIMEOUT = 0.5  # a pin Redis cannot answer for in time counts as pinned
_PINNED = "madeinpk.primary_reads"  # where a request keeps its answer, in its ASGI scope
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Replica connections cannot write even if the server were promoted: every transaction on them
# is read-only unless it says otherwise, and nothing here says otherwise.
READ_ONLY = {
    **SESSION_SETTINGS,
    "default_transaction_read_only": "on",
    "application_name": "madeinpk-replica",
}
# Errors that mean the replica (or the way to it) is gone: it is skipped until a check finds it.
_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
    OSError,
    TimeoutError,
)
_PRIMARY_LSN = "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"
_REPLICA_STATE = """
    SELECT pg_is_in_recovery() AS in_recovery,
           pg_last_wal_replay_lsn() - '0/0'::pg_lsn AS replayed
"""

_primary_only: ContextVar[bool] = ContextVar("primary_only", default=False)
_scope: ContextVar[Scope | None] = ContextVar("read_scope", default=None)


class Runnable(Protocol):
    """A Piccolo query (select, count, exists, raw, ``.first()``): runs on a named node."""

    async def run(self, node: str | None = None, in_pool: bool = True) -> Any: ...


class WriterPins:
    """Accounts whose reads stay on the primary for a while after they wrote: known to this
    process, and with Redis to every app process (one expiring key per account)."""

    def __init__(self, seconds: float, settings: Settings) -> None:
        self.seconds = seconds
        self._local: dict[int, float] = {}  # account id -> monotonic time the pin ends
        self._prefix = f"{settings.redis_key_prefix}:primary-reads"
        # One key per account: any master of a cluster may hold it.
        self._redis: Redis | RedisCluster | None = (
            redis_client(
                settings.redis_url,
                cluster=settings.redis_cluster,
                tuned=False,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
            if settings.redis_url
            else None
        )

    async def pin(self, account_id: int) -> None:
        self._local[account_id] = time.monotonic() + self.seconds
        if self._redis is not None:
            try:
                await self._redis.set(
                    f"{self._prefix}:{account_id}", 1, px=max(1, int(self.seconds * 1000))
                )
            except Exception as exc:  # this process still knows; others may not
                logger.warning("Writer pin not shared (%r): other processes may read stale", exc)

    async def pinned(self, account_id: int) -> bool:
        if self._local.get(account_id, 0) > time.monotonic():
            return True
        if self._redis is None:
            return False
        try:
            return bool(await self._redis.exists(f"{self._prefix}:{account_id}"))
        except Exception:
            return True  # not known: the primary is never wrong

    def forget_expired(self) -> None:
        now = time.monotonic()
        self._local = {a: until for a, until in self._local.items() if until > now}

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


@dataclass
class Replica:
    node: str  # its name in the primary engine's ``extra_nodes``
    where: str  # host:port/db, for the health report (no credentials)
    engine: PostgresEngine
    status: str = "starting"  # ok | lagging | unreachable | not_a_replica | starting
    lag: float | None = None  # seconds, at the last check


class ReplicaRouter:
    """The replicas of one primary engine, their health, and where each stale read goes."""

    def __init__(self, primary: PostgresEngine, settings: Settings) -> None:
        config = settings.replicas
        self.primary = primary
        self.config = config
        self.pool_size = settings.database_pool_size
        self.replicas = [
            Replica(
                node=f"replica-{n}",
                where=_where(url),
                engine=PostgresEngine(
                    config={"dsn": url, "server_settings": READ_ONLY, "timeout": CONNECT_TIMEOUT}
                ),
            )
            for n, url in enumerate(config.urls, start=1)
        ]
        primary.extra_nodes = {r.node: r.engine for r in self.replicas}
        # (monotonic time, primary WAL position): enough history to date any lag up to the bound.
        self._samples: deque[tuple[float, int]] = deque()
        self.pins = WriterPins(self.pin_seconds, settings)
        self._turn = itertools.count()
        self._checker: asyncio.Task[None] | None = None

    @property
    def pin_seconds(self) -> float:
        """How long a writer's reads stay on the primary: a replica in use was at most
        ``max_lag`` behind at its last check, at most ``check_interval`` ago."""
        return self.config.max_lag + 2 * self.config.check_interval

    async def start(self) -> None:
        for replica in self.replicas:
            # min_size=0: a replica that is down at boot does not stop the app from starting.
            await replica.engine.start_connection_pool(min_size=0, max_size=self.pool_size)
        await self.check()
        self._checker = asyncio.create_task(self._check_forever(), name="replica-checks")

    async def close(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
        await self.pins.close()
        for replica in self.replicas:
            pool, replica.engine.pool = replica.engine.pool, None
            if pool is not None:
                try:
                    async with asyncio.timeout(CHECK_TIMEOUT):
                        await pool.close()
                except TimeoutError:
                    pool.terminate()

    # --- where a read goes ---------------------------------------------------------------------

    async def _on_primary(self) -> bool:
        if _primary_only.get() or self.primary.current_transaction.get() is not None:
            return True
        scope = _scope.get()
        if scope is None:
            return False
        account_id = getattr(scope.get("user"), "id", None)
        if not isinstance(account_id, int):
            return False
        # Asked once per request, however many reads it makes.
        state = cast(dict[str, Any], scope)
        if _PINNED not in state:
            state[_PINNED] = await self.pins.pinned(account_id)
        return bool(state[_PINNED])

    async def choose(self) -> Replica | None:
        """A healthy replica, in turn; None: read on the primary."""
        if await self._on_primary():
            return None
        healthy = [r for r in self.replicas if r.status == "ok"]
        return healthy[next(self._turn) % len(healthy)] if healthy else None

    async def read(self, query: Runnable) -> Any:
        replica = await self.choose()
        if replica is None:
            return await query.run()
        try:
            return await query.run(node=replica.node)
        except Exception as exc:
            # Whatever failed there, the primary answers (and raises the query's own error if
            # it was the query's fault). A lost replica is skipped until a check finds it back;
            # any other failure (e.g. a query cancelled by a conflict with recovery) is not.
            if isinstance(exc, _LOST):
                replica.status = "unreachable"
            logger.warning("Read on %s failed, retrying on the primary: %r", replica.where, exc)
            return await query.run()

    # --- health ------------------------------------------------------------------------------

    def report(self) -> dict[str, str]:
        """Each replica's state, for ``/health/ready`` (never a reason to fail readiness)."""
        return {
            r.where: r.status if r.lag is None or r.status != "ok" else f"ok (lag {r.lag:.1f} s)"
            for r in self.replicas
        }

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.check_interval)
            try:
                await self.check()
            except Exception:  # never let the checker die: the next round tries again
                logger.exception("Replica check failed")

    async def check(self) -> None:
        """Sample the primary's WAL position, then every replica's replayed one."""
        now = time.monotonic()
        sampled = False
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                assert self.primary.pool is not None
                position = int(await self.primary.pool.fetchval(_PRIMARY_LSN))
            self._samples.append((now, position))
            sampled = True
        except Exception as exc:
            logger.warning("Replica check could not read the primary's WAL position: %r", exc)
        horizon = now - self.pin_seconds - self.config.max_lag
        while len(self._samples) > 1 and self._samples[1][0] < horizon:
            self._samples.popleft()
        await asyncio.gather(*(self._check_replica(r, sampled) for r in self.replicas))
        self.pins.forget_expired()

    async def _check_replica(self, replica: Replica, fresh_sample: bool) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                assert replica.engine.pool is not None
                state = await replica.engine.pool.fetchrow(_REPLICA_STATE)
        except Exception as exc:
            if replica.status != "unreachable":
                logger.warning("Replica %s unreachable: %r", replica.where, exc)
            replica.status, replica.lag = "unreachable", None
            return
        if not state["in_recovery"] or state["replayed"] is None:
            # Promoted (or never a standby): its data may have parted from the primary's.
            replica.status, replica.lag = "not_a_replica", None
            return
        replica.lag = self.lag(int(state["replayed"]), fresh_sample)
        status = "ok" if replica.lag <= self.config.max_lag else "lagging"
        if status != replica.status:
            logger.info("Replica %s: %s (lag %.1f s)", replica.where, status, replica.lag)
        replica.status = status

    def lag(self, replayed: int, fresh_sample: bool) -> float:
        """Seconds: 0 if the replica has replayed this round's sample of the primary, else the
        age of the newest sample it has replayed (infinite if it has replayed none we keep)."""
        if not self._samples:
            return float("inf")
        if fresh_sample and replayed >= self._samples[-1][1]:
            return 0.0
        now = time.monotonic()
        for at, position in reversed(self._samples):
            if position <= replayed:
                return now - at
        return float("inf")


def _where(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.hostname}{port}{parts.path}"


def _router() -> ReplicaRouter | None:
    engine = BaseUser._meta.db
    return getattr(engine, "replicas", None) if is_postgres(engine) else None


async def stale_read(query: Runnable) -> Any:
    """Run a read that tolerates a little staleness (at most ``DATABASE_REPLICA_MAX_LAG``
    seconds plus one check interval) on a healthy replica, or on the primary (see above)."""
    router = _router()
    if router is None:
        return await query.run()
    return await router.read(query)


@contextlib.contextmanager
def primary_reads() -> Any:
    """Every ``stale_read`` inside goes to the primary."""
    token = _primary_only.set(True)
    try:
        yield
    finally:
        _primary_only.reset(token)


class ReadRoutingMiddleware:
    """Marks what a request may read: a write (or a WebSocket) reads on the primary only, and an
    account that writes has its next reads on the primary for ``pin_seconds``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope_token = _scope.set(scope)
        writes = scope["type"] == "websocket" or scope.get("method") not in READ_METHODS
        primary_token = _primary_only.set(True) if writes else None
        if writes and scope["type"] == "http":
            send = _pinning(scope, send)
        try:
            await self.app(scope, receive, send)
        finally:
            if primary_token is not None:
                _primary_only.reset(primary_token)
            _scope.reset(scope_token)


def _pinning(scope: Scope, send: Send) -> Send:
    """Pins the writer as its answer starts: before the client can send its next request."""

    async def send_and_pin(message: Message) -> None:
        if message["type"] == "http.response.start":
            router = _router()
            account_id = getattr(scope.get("user"), "id", None)
            if router is not None and isinstance(account_id, int):
                await router.pins.pin(account_id)
        await send(message)

    return send_and_pin


@contextlib.asynccontextmanager
async def replicas_running(router: ReplicaRouter | None) -> AsyncIterator[None]:
    if router is None:
        yield
        return
    await router.start()
    try:
        yield
    finally:
        await router.close()
