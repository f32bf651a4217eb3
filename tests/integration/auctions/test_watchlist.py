"""Watchlist and reminders: watching and unwatching, ``/api/watchlist/``, ``watch_count``, and the
``auction_ending_soon`` reminders (docs/auction-rules.md § Watchlist and reminders).

The suite's server runs without reminders (``ENDING_SOON_MINUTES=0``: its other tests count
notifications and emails exactly); the reminder tests run an app of their own with them (and,
on the production topology, a worker and a scheduler on a queue of their own)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from piccolo.engine.postgres import PostgresEngine

from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.lifecycle.reminders import send_reminders
from madeinpk.auctions.lifecycle.watch_notices import tell_watchers_started
from madeinpk.auctions.tables import Auction, Bid, EndingReminder, Watch
from madeinpk.catalog.tables import Product
from madeinpk.db.sql import transaction
from madeinpk.notifications.tables import Notification, OutboxEmail
from madeinpk.timestamps import utc_now
from tests.integration.conftest import (
    LiveServer,
    SmtpInbox,
    TaskProcess,
    scheduler_process,
    worker_process,
)
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.notifications.test_notification_socket import alerts
from tests.integration.servers import WebServer

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

ENDING_SOON = "auction_ending_soon"
STARTED = "auction_started"


async def watch(client: httpx.AsyncClient, user: UserHandle, auction_id: object) -> httpx.Response:
    return await client.post(f"/api/auctions/{auction_id}/watch/", headers=user.auth)


async def unwatch(
    client: httpx.AsyncClient, user: UserHandle, auction_id: object
) -> httpx.Response:
    return await client.delete(f"/api/auctions/{auction_id}/watch/", headers=user.auth)


# --- watching -----------------------------------------------------------------------------------


async def test_watching_is_idempotent_and_counted_on_list_and_detail(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    seller: UserHandle,
    buyer: UserHandle,
    auction: int,
) -> None:
    other = await make_user(live_server.settings)
    first = await watch(client, buyer, auction)
    assert first.status_code == 201, first.text
    assert first.json() == {"auction_id": auction, "is_watching": True, "watch_count": 1}
    again = await watch(client, buyer, auction)
    assert again.status_code == 200
    assert again.json() == {"auction_id": auction, "is_watching": True, "watch_count": 1}
    assert (await watch(client, other, auction)).json()["watch_count"] == 2

    def seen(body: dict[str, Any]) -> tuple[int, bool]:
        return body["watch_count"], body["is_watching"]

    detail = f"/api/auctions/{auction}/"
    assert seen((await client.get(detail, headers=buyer.auth)).json()) == (2, True)
    assert seen((await client.get(detail)).json()) == (2, False)  # anonymous
    assert seen((await client.get(detail, headers=seller.auth)).json()) == (2, False)
    [listed] = (await client.get("/api/auctions/", headers=buyer.auth)).json()["results"]
    assert seen(listed) == (2, True)

    gone = await unwatch(client, buyer, auction)
    assert (gone.status_code, gone.content) == (204, b"")
    assert (await unwatch(client, buyer, auction)).status_code == 204  # idempotent
    assert seen((await client.get(detail, headers=buyer.auth)).json()) == (1, False)
    assert await Watch.count().where(Watch.auction == auction) == 1


async def test_watching_never_writes_the_auction_row(
    client: httpx.AsyncClient, buyer: UserHandle, auction: int
) -> None:
    """The row is the bid path's lock: a watch is a row of its own, and on PostgreSQL watching
    goes through while a bid holds the auction's row."""
    columns = (Auction.seq, Auction.updated_at, Auction.bid_count)
    before = await Auction.select(*columns).where(Auction.id == auction).first()
    engine = Auction._meta.db
    if isinstance(engine, PostgresEngine):
        async with engine.transaction():
            await Auction.raw("SELECT id FROM auction WHERE id = {} FOR UPDATE", auction)
            async with asyncio.timeout(5):
                assert (await watch(client, buyer, auction)).status_code == 201
    else:
        assert (await watch(client, buyer, auction)).status_code == 201
    assert await Auction.select(*columns).where(Auction.id == auction).first() == before


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_watch_errors(
    client: httpx.AsyncClient, buyer: UserHandle, auction: int, method: str
) -> None:
    path = f"/api/auctions/{auction}/watch/"
    anonymous = await client.request(method, path)
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    bad_token = await client.request(method, path, headers={"Authorization": "Token nope"})
    assert bad_token.status_code == 401
    for unknown in ("999999", "abc", "12a", "-1", "99999999999", "\uff11", "1_0"):
        response = await client.request(
            method, f"/api/auctions/{unknown}/watch/", headers=buyer.auth
        )
        assert response.status_code == 404, (unknown, response.text)
    missing = await client.request(method, "/api/auctions/999999/watch/", headers=buyer.auth)
    assert missing.json() == {"detail": "Not found."}
    assert await Watch.count() == 0


async def test_the_watchlist_is_paginated_newest_watch_first_in_the_list_shape(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    assert (await client.get("/api/watchlist/")).status_code == 401
    empty = (await client.get("/api/watchlist/", headers=buyer.auth)).json()
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}
    ids = [await make_auction(seller, name=f"Ajrak {n}") for n in range(3)]
    for auction_id in ids:
        assert (await watch(client, buyer, auction_id)).status_code == 201
    await make_auction(seller, name="Unwatched")
    first = (await client.get("/api/watchlist/?page_size=2", headers=buyer.auth)).json()
    assert first["count"] == 3 and first["previous"] is None
    assert first["next"].endswith("/api/watchlist/?page_size=2&page=2")
    assert [a["id"] for a in first["results"]] == [ids[2], ids[1]]
    listed = (await client.get("/api/auctions/", headers=buyer.auth)).json()["results"]
    assert set(first["results"][0]) == set(listed[0])  # the auction list's shape
    assert all(a["is_watching"] and a["watch_count"] == 1 for a in first["results"])
    second = (await client.get(first["next"], headers=buyer.auth)).json()
    assert [a["id"] for a in second["results"]] == [ids[0]] and second["next"] is None
    past = await client.get("/api/watchlist/?page=3&page_size=2", headers=buyer.auth)
    assert (past.status_code, past.json()) == (404, {"detail": "Invalid page."})
    # Someone else's watchlist is their own.
    other = await make_user(live_server.settings)
    assert (await client.get("/api/watchlist/", headers=other.auth)).json()["count"] == 0
    # A deleted auction leaves the watchlist with its watches.
    await Auction.delete().where(Auction.id == ids[2])
    after = (await client.get("/api/watchlist/", headers=buyer.auth)).json()
    assert after["count"] == 2 and [a["id"] for a in after["results"]] == [ids[1], ids[0]]


# --- reminders, in the database: once per auction ------------------------------------------------


async def test_reminders_go_once_to_watchers_and_bidders_whoever_runs_them(
    live_server: LiveServer, seller: UserHandle
) -> None:
    settings = dataclasses.replace(live_server.settings, ending_soon_minutes=60)
    watcher, bidder, both = [await make_user(settings) for _ in range(3)]
    auction_id = await make_auction(seller, ends_in=timedelta(minutes=30))
    later = await make_auction(seller, name="Later", ends_in=timedelta(minutes=90))
    now = utc_now()
    for user, watched in ((watcher, auction_id), (both, auction_id), (seller, auction_id)):
        await Watch.insert(Watch(user=user.id, auction=watched, created_at=now))
    await Watch.insert(Watch(user=watcher.id, auction=later, created_at=now))
    for user, amount in ((bidder, "2600"), (both, "2700"), (bidder, "2800")):
        await Bid.insert(Bid(auction=auction_id, bidder=user.id, amount=amount, bid_time=now))
    off = dataclasses.replace(settings, ending_soon_minutes=0)
    assert (await send_reminders(off))[0] == []
    # Four runners at once (the one-off task, the sweep, racing workers): one sends them.
    results = await asyncio.gather(
        *(send_reminders(settings, [auction_id]) for _ in range(3)), send_reminders(settings)
    )
    assert sorted(r for reminded, _ in results for r in reminded) == [auction_id]
    sent = [done for reminded, done in results if reminded]
    assert sent[0].notified == {watcher.id, bidder.id, both.id}  # never the seller
    rows = await Notification.select(Notification.user, Notification.message).where(
        Notification.notification_type == ENDING_SOON
    )
    assert sorted(r["user"] for r in rows) == sorted([watcher.id, bidder.id, both.id])
    assert all("ends in 30 minutes" in r["message"] for r in rows)
    emails = await OutboxEmail.select(OutboxEmail.to_address).where(
        OutboxEmail.dedupe_key.like(f"auction_ending_soon:{auction_id}:%")
    )
    assert sorted(e["to_address"] for e in emails) == sorted(
        [watcher.email, bidder.email, both.email]
    )
    # A soft close moving the end (still inside the window) sends nothing again.
    await Auction.update({Auction.end_time: utc_now() + timedelta(minutes=31)}).where(
        Auction.id == auction_id
    )
    assert (await send_reminders(settings))[0] == []
    assert await EndingReminder.count() == 1
    assert await Notification.count().where(Notification.notification_type == ENDING_SOON) == 3


async def test_the_watchers_of_an_auction_that_opens_are_told_in_its_transaction(
    live_server: LiveServer, seller: UserHandle
) -> None:
    watcher, other = [await make_user(live_server.settings) for _ in range(2)]
    auction_id = await make_auction(seller, name="Hala Tiles")
    now = utc_now()
    for user in (watcher, seller):
        await Watch.insert(Watch(user=user.id, auction=auction_id, created_at=now))
    done = AfterCommit()
    async with transaction(Auction._meta.db) as db:
        await tell_watchers_started(db, [auction_id], done, now)
        await tell_watchers_started(db, [], done, now)
    assert done.notified == {watcher.id} and len(done.email_ids) == 1  # never the seller
    [notice] = await Notification.select().where(Notification.notification_type == STARTED)
    assert (notice["user"], notice["auction"], notice["title"]) == (
        watcher.id,
        auction_id,
        "Auction started",
    )
    assert (
        notice["message"] == "The auction for Hala Tiles has started. Starting price: Rs. 2500.00."
    )
    [email] = await OutboxEmail.select().where(OutboxEmail.id == done.email_ids[0])
    assert (email["to_address"], email["subject"]) == (
        watcher.email,
        "The auction for Hala Tiles has started",
    )
    assert await Notification.count().where(Notification.user == other.id) == 0


# --- reminders, end to end: scheduled, pushed and mailed ----------------------------------------


@pytest.fixture(scope="module")
def reminding_env(test_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The suite's services with reminders on, on a task queue of this module's own."""
    queue = f"{test_env['TASK_QUEUE']}-reminders"
    env = {
        **test_env,
        "ENDING_SOON_MINUTES": "60",
        "TASK_QUEUE": queue,
        "REDIS_KEY_PREFIX": queue,
    }
    processes: list[TaskProcess] = []
    if "REDIS_URL" in env:
        logs = Path(env["MEDIA_ROOT"]).parent
        processes = [
            worker_process(env, logs / "reminder-worker.log"),
            scheduler_process(env, logs / "reminder-scheduler.log"),
        ]
    with ThreadPoolExecutor() as starting:  # both at once: each waits for its heartbeat
        list(starting.map(TaskProcess.start, processes))
    try:
        yield env
    finally:
        for process in processes:
            process.stop()


@pytest.fixture
async def reminding_server(
    reminding_env: dict[str, str], live_server: LiveServer
) -> AsyncIterator[WebServer]:
    server = WebServer(reminding_env)
    server.start()
    try:
        await server.ready()
        yield server
    finally:
        server.kill()


def iso(delta: timedelta) -> str:
    return (utc_now() + delta).isoformat().replace("+00:00", "Z")


async def test_watchers_and_bidders_are_reminded_pushed_and_mailed_once(
    reminding_server: WebServer, live_server: LiveServer, seller: UserHandle, inbox: SmtpInbox
) -> None:
    watcher, bidder = [await make_user(live_server.settings) for _ in range(2)]
    async with (
        httpx.AsyncClient(base_url=reminding_server.url, timeout=30) as http,
        alerts(reminding_server.url, watcher) as feed,
    ):
        # The feed opens first: on a slow run the reminder may fire before a later connect.
        assert (await feed.receive())["type"] == "unread_count"
        rows = await Product.insert(
            Product(seller=seller.id, name="Multani Blue Pottery", description=".", condition="new")
        ).returning(Product.id)
        # Ends a few seconds past the window: its reminder is scheduled a few seconds ahead.
        created = await http.post(
            "/api/auctions/",
            json={
                "product_id": rows[0]["id"],
                "starting_price": "1000.00",
                "start_time": iso(timedelta()),
                "end_time": iso(timedelta(minutes=60, seconds=6)),
            },
            headers=seller.auth,
        )
        assert created.status_code == 201, created.text
        auction_id = created.json()["id"]
        assert (await watch(http, watcher, auction_id)).status_code == 201
        bid = await http.post(
            f"/api/auctions/{auction_id}/place_bid/", json={"amount": 1100}, headers=bidder.auth
        )
        assert bid.status_code == 201, bid.text
        pushed = await feed.receive(seconds=20)
        assert pushed["type"] == "notification" and pushed["unread_count"] == 1
        notice = pushed["data"]
        assert (notice["notification_type"], notice["auction"]) == (ENDING_SOON, auction_id)
        assert notice["title"] == "Auction ending soon"
        assert "Multani Blue Pottery" in notice["message"] and "Rs. 1100.00" in notice["message"]
        [to_watcher] = await inbox.wait_for(watcher.email)
        [to_bidder] = await inbox.wait_for(bidder.email)
        assert to_watcher["Subject"] == "The auction for Multani Blue Pottery ends soon"
        assert "You are watching this auction." in to_watcher.get_content()
        assert "You are the highest bidder." in to_bidder.get_content()
        assert f"https://madeinpk.test/auction/{auction_id}" in to_bidder.get_content()
        listed = await http.get(
            f"/api/notifications/?notification_type={ENDING_SOON}", headers=bidder.auth
        )
        assert listed.json()["count"] == 1
        assert inbox.to(seller.email) == []

        # Created already inside the window: reminded at once, not at the next sweep.
        rows = await Product.insert(
            Product(seller=seller.id, name="Sindhi Topi", description=".", condition="new")
        ).returning(Product.id)
        soon = await http.post(
            "/api/auctions/",
            json={
                "product_id": rows[0]["id"],
                "starting_price": "500.00",
                "start_time": iso(timedelta()),
                "end_time": iso(timedelta(minutes=20)),
            },
            headers=seller.auth,
        )
        assert soon.status_code == 201, soon.text
        async with asyncio.timeout(4):
            while not await EndingReminder.exists().where(  # noqa: ASYNC110
                EndingReminder.auction == soon.json()["id"]
            ):
                await asyncio.sleep(0.05)
    assert await EndingReminder.count() == 2
