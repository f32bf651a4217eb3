"""Health probes, /metrics (content and who may read it), request ids and JSON logs."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from piccolo.engine.sqlite import SQLiteEngine
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from taskiq import InMemoryBroker

from madeinpk.accounts.tables import Role
from madeinpk.app import create_app
from madeinpk.http.errors import PERMISSION_DENIED
from madeinpk.notifications.tables import OutboxEmail
from madeinpk.observability import metrics
from madeinpk.observability.health import Readiness
from madeinpk.observability.metrics import TaskMetricsMiddleware
from madeinpk.redis_io.redis_channels import ReconnectingPubSubBackend
from madeinpk.redis_io.redis_tasks import ReconnectingStreamBroker
from madeinpk.redis_io.redis_topology import redis_client
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer, free_port
from tests.integration.factories import make_auction, make_user
from tests.integration.processes import AppProcess
from tests.integration.sockets import watch

METRICS_TOKEN = "scrape-token-0123456789abcdef"
BID_PATH = "/api/auctions/{auction_id}/place_bid"  # the route template, not the raw path


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page, keyed by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_liveness_answers_without_credentials_or_backends(
    client: httpx.AsyncClient,
) -> None:
    for headers in ({}, {"Authorization": "Token not-a-real-key"}):
        response = await client.get("/health/live", headers=headers)
        assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readiness_checks_database_redis_and_broker(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready", headers={"Authorization": "Token nope"})
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "broker": "ok"},
    }


def test_readiness_names_every_backend_that_failed(settings: Settings, tmp_path: Path) -> None:
    """Nothing listens on the port and the database file cannot exist: each probe fails on
    its own, and the answer says which (not why: that is in the log)."""
    app = create_app(settings)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    plain = redis_client(dead, cluster=False)
    assert isinstance(plain, Redis)
    app.state.readiness = Readiness(
        SQLiteEngine(path=str(tmp_path / "missing-dir" / "db.sqlite3")),
        ReconnectingPubSubBackend(redis=plain),
        ReconnectingStreamBroker(dead),
    )
    response = TestClient(app).get("/health/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json() == {
        "status": "unavailable",
        "detail": "Not ready: database, redis, broker",
        "checks": {"database": "unreachable", "redis": "unreachable", "broker": "unreachable"},
    }


async def test_metrics_after_a_bid(client: httpx.AsyncClient, live_server: LiveServer) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    before = await scrape(client)
    async with watch(live_server.url, auction_id) as watcher:
        response = await client.post(
            f"/api/auctions/{auction_id}/place_bid/", json={"amount": 3000}, headers=buyer.auth
        )
        assert response.status_code == 201
        assert (await watcher.receive())["type"] == "new_bid"
        during = await scrape(client)
    bids = {"app_name": "madeinpk", "method": "POST", "path": BID_PATH, "status_code": "201"}
    assert (
        value(during, "madeinpk_http_requests_total", **bids)
        == (value(before, "madeinpk_http_requests_total", **bids) or 0) + 1
    )
    assert value(during, "madeinpk_watchers") == (value(before, "madeinpk_watchers") or 0) + 1
    # The bid's event reached the watcher's socket, and how long that took since commit is kept.
    delays = "madeinpk_fanout_delay_seconds_count"
    assert (value(during, delays) or 0) >= (value(before, delays) or 0) + 1
    after = await scrape(client)
    assert value(after, "madeinpk_watchers") == value(before, "madeinpk_watchers")
    # Probes and scrapes are not counted as traffic.
    assert "/metrics" not in after and "/health/" not in after


async def test_bid_engine_helpers_show_on_metrics(client: httpx.AsyncClient) -> None:
    """What the bid engine records through ``observability.metrics`` is what Prometheus reads."""
    before = await scrape(client)
    metrics.record_bid_accepted(2)
    metrics.record_bid_rejected("too_low")
    metrics.observe_bid_decision(0.004)
    metrics.observe_fanout_delay(0.012)
    metrics.observe_ending_delay(0.3)
    after = await scrape(client)

    def grew(name: str, by: float, **labels: str) -> None:
        assert value(after, name, **labels) == (value(before, name, **labels) or 0) + by, name

    grew("madeinpk_bids_accepted_total", 2)
    grew("madeinpk_bids_rejected_total", 1, reason="too_low")
    grew("madeinpk_bid_decision_seconds_count", 1)
    grew("madeinpk_bid_decision_seconds_bucket", 1, le="0.005")
    grew("madeinpk_fanout_delay_seconds_bucket", 1, le="0.025")
    grew("madeinpk_auction_ending_delay_seconds_bucket", 1, le="0.5")


async def test_outbox_backlog_is_read_on_scrape(client: httpx.AsyncClient) -> None:
    now = utc_now()
    await OutboxEmail.insert(
        *(
            OutboxEmail(
                dedupe_key=f"metrics-test-{n}",
                to_address="buyer@example.com",
                subject="s",
                body="b",
                created_at=now,
                sent_at=now - timedelta(minutes=1) if n == 0 else None,
            )
            for n in range(3)
        )
    )
    assert value(await scrape(client), "madeinpk_outbox_backlog") == 2


async def test_failed_tasks_are_counted_by_name() -> None:
    broker = InMemoryBroker(await_inplace=True).with_middlewares(TaskMetricsMiddleware())

    @broker.task(task_name="madeinpk.test_fails")
    async def fails() -> None:
        raise RuntimeError("SMTP said no")

    @broker.task(task_name="madeinpk.test_succeeds")
    async def succeeds() -> None:
        return None

    def failures(task: str) -> float:
        return REGISTRY.get_sample_value("madeinpk_task_failures_total", {"task": task}) or 0

    before = failures("madeinpk.test_fails")
    await broker.startup()
    try:
        for _ in range(2):
            await fails.kiq()
        await succeeds.kiq()
    finally:
        await broker.shutdown()
    assert failures("madeinpk.test_fails") == before + 2
    assert failures("madeinpk.test_succeeds") == 0


async def test_metrics_are_refused_through_a_proxy(client: httpx.AsyncClient) -> None:
    """Loopback is allowed by default, but not a request a load balancer forwarded."""
    for header in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        response = await client.get("/metrics", headers=header)
        assert (response.status_code, response.json()) == (403, {"detail": PERMISSION_DENIED})


# A second loopback address: a peer other than 127.0.0.1 without leaving this machine.
OTHER_LOOPBACK = "127.0.0.2"


def from_address(app: AppProcess, source: str) -> httpx.AsyncClient:
    """A client whose connections come from ``source`` (a local address)."""
    return httpx.AsyncClient(
        base_url=app.url, transport=httpx.AsyncHTTPTransport(local_address=source)
    )


def test_metrics_default_allows_only_the_loopback() -> None:
    """Without a token, a peer on a private network is not a scraper: a balancer there that
    adds no forwarding header would make /metrics public."""
    allowed = [ipaddress.ip_network(r) for r in Settings.from_env({}).metrics_allow]
    for peer, expected in [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("10.0.0.5", False),
        ("172.16.3.4", False),
        ("192.168.1.10", False),
        ("fd00::2", False),
        ("100.64.0.1", False),
    ]:
        address = ipaddress.ip_address(peer)
        assert any(address in network for network in allowed) is expected, peer


@pytest.fixture(scope="module")
async def allowing_metrics_app(
    test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppProcess]:
    """METRICS_ALLOW naming one scraper's address, which replaces the loopback default."""
    log = tmp_path_factory.mktemp("metrics-allow") / "app.log"
    app = AppProcess({**test_env, "METRICS_ALLOW": f"{OTHER_LOOPBACK}/32"}, log)
    app.start()
    try:
        await app.wait_until_up()
        yield app
    finally:
        app.kill()


async def test_metrics_answer_the_ranges_metrics_allow_names(
    allowing_metrics_app: AppProcess,
) -> None:
    """The list replaces the default: the scraper's address reads, 127.0.0.1 no longer does."""
    async with from_address(allowing_metrics_app, OTHER_LOOPBACK) as http:
        await scrape(http)
    async with from_address(allowing_metrics_app, "127.0.0.1") as http:
        response = await http.get("/metrics")
    assert response.status_code == 403, response.text[:300]
    assert response.json() == {"detail": PERMISSION_DENIED}


@pytest.fixture(scope="module")
async def json_app(
    test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AppProcess]:
    """An app process with JSON logs, /metrics open to no address but to a token."""
    app = AppProcess(
        {
            **test_env,
            "LOG_FORMAT": "json",
            "METRICS_ALLOW": "none",
            "METRICS_TOKEN": METRICS_TOKEN,
        },
        tmp_path_factory.mktemp("json-app") / "app.log",
        log_level="info",
    )
    app.start()
    try:
        await app.wait_until_up()
        yield app
    finally:
        app.kill()


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def test_json_logs_carry_the_request_id(json_app: AppProcess) -> None:
    async with httpx.AsyncClient(base_url=json_app.url) as http:
        mine = await http.get("/api/categories/", headers={"X-Request-ID": "trace-7f3a-42"})
        assert mine.status_code == 200
        assert mine.headers["x-request-id"] == "trace-7f3a-42"
        fresh = await http.get("/api/categories/")
        missing = await http.get("/no/such/page", headers={"X-Request-ID": "<bad id>"})
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert missing.status_code == 404
    assert re.fullmatch(r"[0-9a-f]{32}", missing.headers["x-request-id"])  # unsafe id replaced

    lines = json_lines(json_app.output())
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    by_id = {line["request_id"]: line for line in access}
    assert "GET /api/categories" in by_id["trace-7f3a-42"]["message"]
    assert "GET /api/categories" in by_id[fresh.headers["x-request-id"]]["message"]
    assert "GET /no/such/page" in by_id[missing.headers["x-request-id"]]["message"]
    assert {"time", "level", "logger", "message", "request_id"} <= set(access[0])
    # After startup, everything the app process writes is JSON.
    started = json_app.output().index('"Application startup complete."')
    tail = json_app.output()[started:].splitlines()[1:]
    assert all(line.startswith("{") for line in tail if line.strip()), tail


async def test_metrics_token_opens_what_the_address_list_closes(json_app: AppProcess) -> None:
    async with httpx.AsyncClient(base_url=json_app.url) as http:
        anonymous = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        scraper = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        forwarded = await http.get(
            "/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}", "X-Forwarded-For": "203.0.113.9"},
        )
    assert (anonymous.status_code, anonymous.json()) == (403, {"detail": PERMISSION_DENIED})
    assert wrong.status_code == 403
    assert scraper.status_code == 200 and "madeinpk_watchers" in scraper.text
    assert forwarded.status_code == 200  # the token is enough, wherever it came from


@pytest.mark.postgres_only
async def test_metrics_add_up_across_app_processes(
    test_env: dict[str, str], live_server: LiveServer, tmp_path: Path
) -> None:
    """With PROMETHEUS_MULTIPROC_DIR shared, any process's /metrics covers them all."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**test_env, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    apps = [AppProcess(env, tmp_path / f"app{n}.log") for n in range(2)]
    for app in apps:
        app.start()
    try:
        for app in apps:
            await app.wait_until_up()
        seller = await make_user(live_server.settings, role=Role.seller)
        buyer = await make_user(live_server.settings)
        auction_id = await make_auction(seller)
        first, second = apps
        async with (
            watch(first.url, auction_id),
            watch(second.url, auction_id),
            watch(second.url, auction_id),
            httpx.AsyncClient(base_url=second.url) as on_second,
            httpx.AsyncClient(base_url=first.url) as on_first,
        ):
            bid = await on_second.post(
                f"/api/auctions/{auction_id}/place_bid/", json={"amount": 3000}, headers=buyer.auth
            )
            assert bid.status_code == 201
            seen_by_first = await scrape(on_first)
        assert value(seen_by_first, "madeinpk_watchers") == 3
        bids = {"app_name": "madeinpk", "method": "POST", "path": BID_PATH, "status_code": "201"}
        assert value(seen_by_first, "madeinpk_http_requests_total", **bids) == 1
        await second.terminate()
        async with httpx.AsyncClient(base_url=first.url) as on_first:
            # The stopped process's live gauge is gone; its counters stay counted.
            after = await scrape(on_first)
        assert value(after, "madeinpk_watchers") == 0
        assert value(after, "madeinpk_http_requests_total", **bids) == 1
    finally:
        for app in apps:
            app.kill()


def test_serve_starts_from_an_empty_metrics_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of processes from a previous run would otherwise be added up for ever."""
    from madeinpk.cli import _reset_metrics_dir

    shared = tmp_path / "prometheus"
    shared.mkdir()
    (shared / "counter_4242.db").write_bytes(b"stale")
    (shared / "README").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    _reset_metrics_dir()
    assert sorted(p.name for p in shared.iterdir()) == ["README"]
