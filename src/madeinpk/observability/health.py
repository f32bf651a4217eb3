"""Health probes and ``/metrics``, for the load balancer, the orchestrator and Prometheus.

- ``GET /health/live``: the process answers (restart it if not). Touches nothing else, so a
  database outage never gets healthy processes killed.
- ``GET /health/ready``: the database, Redis (and this process's pub/sub stream) and the task
  broker all answer within a couple of seconds; otherwise 503 naming the ones that failed, so
  the balancer sends traffic elsewhere until they are back. With read replicas, each one's
  state is under ``replicas``, but never fails readiness: reads skip a replica that is down.
- ``GET /metrics``: Prometheus text, for scrapers on this host only by default, at the
  addresses ``METRICS_ALLOW`` names, or with ``Authorization: Bearer $METRICS_TOKEN``. Private
  networks are not open by default: a balancer there that adds no forwarding header makes every
  request it passes on come from a private address. A request that came through a proxy
  (``X-Forwarded-For``/``Forwarded``) is refused without the token, whatever its address.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, get
from litestar.channels.backends.base import ChannelsBackend
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from piccolo.engine.base import Engine
from prometheus_client import multiprocess
from taskiq import AsyncBroker

from madeinpk.http.errors import PermissionDenied
from madeinpk.observability import metrics
from madeinpk.redis_io.channels_backend import RedisBackend
from madeinpk.redis_io.redis_tasks import StreamRecovery
from madeinpk.settings import Settings

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
OPERATIONAL_PATHS = ("^/health/", "^/metrics")


class Readiness:
    """What ``/health/ready`` checks, built once per app from the objects the app uses."""

    def __init__(self, engine: Engine, backend: ChannelsBackend, broker: AsyncBroker) -> None:
        self.engine = engine
        self.backend = backend
        self.broker = broker

    async def check(self) -> dict[str, str]:
        names = ("database", "redis", "broker")
        results = await asyncio.gather(
            self._probe(self._database),
            self._probe(self._redis),
            self._probe(self._broker),
        )
        return dict(zip(names, results, strict=True))

    def replicas(self) -> dict[str, str] | None:
        """The read replicas' states as the last background check saw them (no query here)."""
        router = getattr(self.engine, "replicas", None)
        return router.report() if router is not None else None

    async def _probe(self, probe: Callable[[], Awaitable[str]]) -> str:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                return await probe()
        except TimeoutError:
            return "timeout"
        except Exception as exc:
            # The reason is for the operator's log, not for an anonymous caller.
            logger.warning("Readiness probe %s failed: %r", probe.__name__, exc)
            return "unreachable"

    async def _database(self) -> str:
        await self.engine.run_ddl("SELECT 1")
        return "ok"

    async def _redis(self) -> str:
        if not isinstance(self.backend, RedisBackend):
            return "ok"  # in-process channels
        await self.backend.ping()
        return "ok" if self.backend.healthy else "reconnecting"

    async def _broker(self) -> str:
        if not isinstance(self.broker, StreamRecovery):
            return "ok"  # in-process broker
        await self.broker.client().ping()
        return "ok"


@get("/health/live", include_in_schema=False, sync_to_thread=False)
def health_live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", include_in_schema=False)
async def health_ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    readiness: Readiness = request.app.state.readiness
    checks = await readiness.check()
    replicas = {"replicas": report} if (report := readiness.replicas()) is not None else {}
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        return Response(
            {
                "status": "unavailable",
                "detail": f"Not ready: {', '.join(failed)}",
                "checks": checks,
                **replicas,
            },
            status_code=503,
            headers={"Retry-After": "2"},
        )
    return Response({"status": "ok", "checks": checks, **replicas})


def metrics_access(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of ``/metrics`` (see the module docstring)."""
    settings: Settings = connection.app.state.settings
    authorization = connection.headers.get("authorization", "")
    if settings.metrics_token and authorization.startswith("Bearer "):
        if hmac.compare_digest(authorization.removeprefix("Bearer "), settings.metrics_token):
            return
        raise PermissionDenied()
    if "x-forwarded-for" in connection.headers or "forwarded" in connection.headers:
        raise PermissionDenied()
    host = connection.client.host if connection.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise PermissionDenied() from None
    if not any(address in network for network in _networks(settings.metrics_allow)):
        raise PermissionDenied()


@functools.cache
def _networks(
    ranges: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(r) for r in ranges)


def metrics_controller(
    outbox_backlog: Callable[[], Awaitable[int]],
) -> type[PrometheusController]:
    """Litestar's exporter (it aggregates ``PROMETHEUS_MULTIPROC_DIR`` by itself), guarded.
    ``outbox_backlog`` counts the unsent emails (the notifications domain's, handed over by
    the app factory: observability imports no domain)."""

    async def refresh_outbox_backlog(_: Request[Any, Any, Any]) -> None:
        """Read on scrape, so the number is as fresh as the scrape; a database outage must not
        take the other metrics down with it."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                unsent = await outbox_backlog()
        except Exception as exc:
            logger.warning("Outbox backlog not read for /metrics: %r", exc)
            return
        metrics.set_outbox_backlog(unsent)

    class MetricsController(PrometheusController):
        path = "/metrics"
        guards = [metrics_access]
        include_in_schema = False
        before_request = refresh_outbox_backlog  # type: ignore[assignment]  # a hook

    return MetricsController


def prometheus_config() -> PrometheusConfig:
    """HTTP requests by route template (not raw path: ids would explode the series), without
    the scrapes and probes themselves."""
    from litestar.enums import ScopeType

    return PrometheusConfig(
        app_name="madeinpk",
        prefix="madeinpk_http",
        group_path=True,
        exclude=list(OPERATIONAL_PATHS),
        scopes={ScopeType.HTTP},
    )


def forget_this_process() -> None:
    """At shutdown with ``PROMETHEUS_MULTIPROC_DIR``: drop this process's live gauges (the
    watchers it no longer holds) from the aggregate."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
