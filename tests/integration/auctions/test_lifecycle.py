"""Auction lifecycle with the real scheduler and worker (Redis topology) or in-process (embedded):
ending on the second, winners and orders, payment deadlines, blocking, and the emails."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

import httpx
import pytest

from madeinpk.accounts.tables import SellerProfile, UserProfile
from madeinpk.after_commit import END_AUCTION_TASK, by_name
from madeinpk.auctions.lifecycle import outcomes as ending_outcomes
from madeinpk.auctions.lifecycle.batching import ENDED, GONE, Endings, finish_auction
from madeinpk.auctions.lifecycle.endings import BATCH
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus, Bid
from madeinpk.notifications.tables import Notification, OutboxEmail
from madeinpk.orders.service import AUCTION_ORDERS, expire_overdue_orders
from madeinpk.orders.tables import Order, OrderStatus, PaymentViolation
from madeinpk.redis_io.redis_tasks import ReconnectingScheduleSource
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer, SmtpInbox, TaskProcess
from tests.integration.factories import PASSWORD, UserHandle, make_auction, make_order, make_user
from tests.integration.sockets import error, watch

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

ORDER_NUMBER = re.compile(r"^AUC-[0-9A-F]{12}$")


@pytest.fixture
async def rival(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


async def bid(client: httpx.AsyncClient, auction_id: int, user: UserHandle, amount: object) -> int:
    response = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": amount}, headers=user.auth
    )
    return response.status_code


async def end_time_of(auction_id: int) -> datetime:
    row = await Auction.select(Auction.end_time).where(Auction.id == auction_id).first()
    assert row is not None
    end: datetime = row["end_time"]
    return end


async def wait_for_status(auction_id: int, status: str, seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while True:
            row = await Auction.select(Auction.status).where(Auction.id == auction_id).first()
            if row is not None and row["status"] == status:
                return
            await asyncio.sleep(0.1)


async def notifications_of(user: UserHandle) -> dict[str, tuple[str, str]]:
    rows = await Notification.select().where(Notification.user == user.id)
    return {r["notification_type"]: (r["title"], r["message"]) for r in rows}


# --- ending ----------------------------------------------------------------------------------


async def test_auction_ends_on_the_second_with_winner_order_and_emails(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    inbox: SmtpInbox,
    seller: UserHandle,
    buyer: UserHandle,
    rival: UserHandle,
) -> None:
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=3))
    end_time = await end_time_of(auction_id)
    await live_server.schedule_auction_end(auction_id, end_time)
    assert await bid(client, auction_id, rival, 2600) == 201
    assert await bid(client, auction_id, buyer, 2700) == 201
    async with watch(live_server.url, auction_id) as watcher:
        message = await watcher.receive(seconds=10)
        received_at = utc_now()
    assert message["type"] == "auction_ended"
    lateness = (received_at - end_time).total_seconds()
    assert 0 <= lateness < 1.5, f"auction_ended arrived {lateness:.2f}s after the end time"
    print(f"auction_ended {lateness * 1000:.0f} ms after the end time")
    assert message["data"] == {
        "auction_id": auction_id,
        "winner": buyer.username,
        "final_price": "2700.00",
        "status": "ended",
        "product_name": "Handwoven Pashmina Shawl",
        "message": f"Auction ended. Winner: {buyer.username} at Rs. 2700.00",
        "seq": 3,  # after the two bids: it can never overtake them
        "reserve_met": None,
    }

    auction = await Auction.select().where(Auction.id == auction_id).first()
    assert auction is not None and auction["status"] == "ended" and auction["winner"] == buyer.id
    [order] = await Order.select().where(Order.auction == auction_id)
    assert ORDER_NUMBER.match(order["order_number"])
    assert (order["buyer"], order["seller"], order["status"]) == (
        buyer.id,
        seller.id,
        "pending_payment",
    )
    assert [f"{order[k]:.2f}" for k in ("total_amount", "platform_fee", "seller_amount")] == [
        "2700.00",
        "54.00",
        "2646.00",
    ]
    assert order["payment_deadline"] == end_time + timedelta(hours=24)
    assert order["shipping_address"] is None  # no address yet: still an order

    payment_url = f"{live_server.settings.site_url}/orders/{order['order_number']}/pay/"
    assert (await notifications_of(buyer))["auction_won"] == (
        "Congratulations! You won the auction",
        "You won the auction for Handwoven Pashmina Shawl. Please complete payment within "
        f"24 hours: {payment_url}",
    )
    assert (await notifications_of(rival))["auction_lost"] == (
        "Auction ended",
        "The auction for Handwoven Pashmina Shawl has ended. The winning bid was Rs. 2700.00.",
    )
    assert (await notifications_of(seller))["auction_ended"] == (
        "Your auction has ended",
        f"Your auction for Handwoven Pashmina Shawl has ended. Winner: {buyer.username}",
    )
    [won] = await inbox.wait_for(buyer.email)
    assert won["Subject"] == "You won the auction for Handwoven Pashmina Shawl"
    assert payment_url in won.get_content()
    rival_mail = await inbox.wait_for(rival.email, 2)  # outbid, then lost
    assert sorted(m["Subject"] for m in rival_mail) == [
        "The auction for Handwoven Pashmina Shawl has ended",
        "You have been outbid on Handwoven Pashmina Shawl",
    ]
    [ended] = await inbox.wait_for(seller.email)
    assert ended["Subject"] == "Your auction for Handwoven Pashmina Shawl has ended"
    await asyncio.sleep(2.5)  # a sweep or two later: still exactly one of each
    assert (
        len(inbox.to(buyer.email)),
        len(inbox.to(rival.email)),
        len(inbox.to(seller.email)),
    ) == (
        1,
        2,
        1,
    )
    assert await Order.count().where(Order.auction == auction_id) == 1


async def test_auction_without_bids_ends_cleanly(
    live_server: LiveServer, inbox: SmtpInbox, seller: UserHandle
) -> None:
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=2))
    await live_server.schedule_auction_end(auction_id, await end_time_of(auction_id))
    async with watch(live_server.url, auction_id) as watcher:
        message = await watcher.receive(seconds=10)
    assert message["data"] == {
        "auction_id": auction_id,
        "winner": None,
        "final_price": "2500.00",
        "status": "ended",
        "product_name": "Handwoven Pashmina Shawl",
        "message": "Auction ended with no bids.",
        "seq": 1,
        "reserve_met": None,
    }
    assert await Order.count() == 0
    auction = await Auction.select().where(Auction.id == auction_id).first()
    assert auction is not None and auction["status"] == "ended" and auction["winner"] is None
    assert (await notifications_of(seller))["auction_ended"] == (
        "Your auction has ended",
        "Your auction for Handwoven Pashmina Shawl has ended with no bids.",
    )
    await inbox.wait_for(seller.email)


async def test_ending_is_idempotent(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    inbox: SmtpInbox,
    seller: UserHandle,
    buyer: UserHandle,
    rival: UserHandle,
) -> None:
    auction_id = await make_auction(seller)
    assert await bid(client, auction_id, rival, 2600) == 201
    assert await bid(client, auction_id, buyer, 2700) == 201
    await Auction.update({Auction.end_time: utc_now() - timedelta(seconds=1)}).where(
        Auction.id == auction_id
    )
    endings: Endings = live_server.app.state.endings
    results = await asyncio.gather(*(finish_auction(auction_id, endings) for _ in range(4)))
    await live_server.kick(END_AUCTION_TASK, auction_id)  # the ending arriving late: a no-op
    await live_server.kick(END_AUCTION_TASK, auction_id)
    assert sum(results) <= 1  # exactly one caller ends it (the sweep may have won the race)
    await wait_for_status(auction_id, "ended", 10)
    await inbox.wait_for(buyer.email)
    await asyncio.sleep(1)
    assert await Order.count().where(Order.auction == auction_id) == 1
    keys = [r["dedupe_key"] for r in await OutboxEmail.select(OutboxEmail.dedupe_key)]
    assert sorted(k for k in keys if not k.startswith("outbid:")) == [
        f"auction_ended:{auction_id}",
        f"auction_lost:{auction_id}:{rival.id}",
        f"auction_won:{auction_id}",
    ]
    assert len(keys) == 4  # and the one outbid email from the bidding
    assert len(inbox.to(buyer.email)) == 1
    assert await Notification.count().where(Notification.notification_type == "auction_won") == 1


async def test_bid_racing_the_end_is_accepted_before_or_refused(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle
) -> None:
    bidders = [await make_user(live_server.settings) for _ in range(4)]
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=1.5))
    end_time = await end_time_of(auction_id)
    await live_server.schedule_auction_end(auction_id, end_time)
    outcomes: list[tuple[int, int]] = []

    async def hammer(user: UserHandle, offset: int) -> None:
        amount = 3000 + offset
        deadline = end_time + timedelta(seconds=0.7)
        while utc_now() < deadline:
            amount += 10
            outcomes.append((amount, await bid(client, auction_id, user, amount)))

    await asyncio.gather(*(hammer(user, index) for index, user in enumerate(bidders)))
    assert {status for _, status in outcomes} <= {201, 400, 429}  # 429: the per-user rate limit
    assert any(status == 201 for _, status in outcomes) and any(s == 400 for _, s in outcomes)
    await wait_for_status(auction_id, "ended", 10)
    bids = await Bid.select(Bid.amount, Bid.bid_time, Bid.bidder).where(Bid.auction == auction_id)
    assert bids and all(b["bid_time"] < end_time for b in bids), "no bid accepted after the end"
    top = max(bids, key=lambda b: Decimal(str(b["amount"])))
    [order] = await Order.select().where(Order.auction == auction_id)
    assert order["buyer"] == top["bidder"]
    assert Decimal(str(order["total_amount"])) == Decimal(str(top["amount"]))


async def test_a_lost_schedule_is_caught_by_the_sweep(seller: UserHandle) -> None:
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=1))  # never scheduled
    await wait_for_status(auction_id, "ended", 8)


@pytest.mark.postgres_only
async def test_killed_worker_restarted_still_ends_the_auction(
    live_server: LiveServer, seller: UserHandle, task_worker: TaskProcess | None
) -> None:
    assert task_worker is not None
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=2))
    await live_server.schedule_auction_end(auction_id, await end_time_of(auction_id))
    task_worker.stop()
    try:
        await asyncio.sleep(3.5)
        row = await Auction.select(Auction.status).where(Auction.id == auction_id).first()
        assert row is not None and row["status"] == "active", "nothing ends it without a worker"
    finally:
        task_worker.start()
    await wait_for_status(auction_id, "ended", 20)


# --- many at once ------------------------------------------------------------------------------


async def add_bids(auction_id: int, bids: list[tuple[UserHandle, int]]) -> None:
    """Bids as the bid path leaves them (ascending; the last one winning), written directly."""
    now = utc_now() - timedelta(minutes=1)
    await Bid.insert(
        *[
            Bid(
                auction=auction_id,
                bidder=user.id,
                amount=Decimal(amount),
                bid_time=now + timedelta(seconds=i),
                is_winning=i == len(bids) - 1,
                seq=i + 1,
            )
            for i, (user, amount) in enumerate(bids)
        ]
    )
    await Auction.update(
        {
            Auction.current_price: Decimal(bids[-1][1]),
            Auction.bid_count: len(bids),
            Auction.seq: len(bids),
            Auction.leader: bids[-1][0].id,
            Auction.last_bid_time: now + timedelta(seconds=len(bids) - 1),
        }
    ).where(Auction.id == auction_id)


async def wait_until_ended(auction_ids: list[int], seconds: float) -> None:
    active = Auction.id.is_in(auction_ids) & (Auction.status == AuctionStatus.active.value)
    async with asyncio.timeout(seconds):
        while True:
            if not await Auction.count().where(active):
                return
            await asyncio.sleep(0.1)


async def test_many_auctions_due_at_once_each_end_exactly_once(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle, rival: UserHandle
) -> None:
    """More auctions than one batch, one end time, their scheduled endings and a sweep racing
    them: each ends once, with what its ending must write (auction-rules.md § 3, § 8)."""
    kinds = ("no bids", "one bidder", "two bidders", "reserve not met")
    plan: dict[int, str] = {}
    for i in range(BATCH + 40):
        kind = kinds[i % len(kinds)]
        reserve = "5000.00" if kind == "reserve not met" else None
        auction_id = await make_auction(seller, reserve_price=reserve)
        if kind == "one bidder":
            await add_bids(auction_id, [(buyer, 2600)])
        elif kind == "two bidders":
            await add_bids(auction_id, [(rival, 2600), (buyer, 2700), (rival, 2800)])
        elif kind == "reserve not met":
            await add_bids(auction_id, [(rival, 2600), (buyer, 3000)])
        plan[auction_id] = kind
    ids = list(plan)
    end = utc_now() + timedelta(seconds=3)
    await Auction.update({Auction.end_time: end}).where(Auction.id.is_in(ids))
    for auction_id in ids:
        await live_server.schedule_auction_end(auction_id, end)
    await asyncio.sleep((end - utc_now()).total_seconds())
    # This process's sweep races the scheduled endings (a worker's, on the production topology).
    here: Endings = live_server.app.state.endings
    await here.sweep()
    await wait_until_ended(ids, 20)

    auctions = {r["id"]: r for r in await Auction.select().where(Auction.id.is_in(ids))}
    orders = await Order.select().where(Order.auction.is_in(ids))
    assert sorted(o["auction"] for o in orders) == sorted(
        a for a, k in plan.items() if k in ("one bidder", "two bidders")
    )
    for order in orders:
        winner = rival if plan[order["auction"]] == "two bidders" else buyer
        assert (order["buyer"], order["seller"]) == (winner.id, seller.id)
        expected = {"one bidder": "2600.00", "two bidders": "2800.00"}[plan[order["auction"]]]
        assert f"{order['total_amount']:.2f}" == expected
        assert order["payment_deadline"] == end + timedelta(hours=24)
    events = await AuctionEvent.select().where(AuctionEvent.auction.is_in(ids))
    ended_events = [e for e in events if '"type":"auction_ended"' in e["payload"]]
    assert sorted(e["auction"] for e in ended_events) == sorted(ids)  # one each
    bids_of = {"no bids": 0, "one bidder": 1, "two bidders": 3, "reserve not met": 2}
    notices = await Notification.select().where(Notification.auction.is_in(ids))
    keys = {r["dedupe_key"] for r in await OutboxEmail.select(OutboxEmail.dedupe_key)}
    for auction_id, kind in plan.items():
        row = auctions[auction_id]
        assert row["status"] == "ended" and row["seq"] == bids_of[kind] + 1
        [event] = [e for e in ended_events if e["auction"] == auction_id]
        assert event["seq"] == row["seq"]
        won_by = (rival if kind == "two bidders" else buyer) if kind in kinds[1:3] else None
        assert row["winner"] == (won_by.id if won_by else None)
        told = sorted(
            (n["user"], n["notification_type"]) for n in notices if n["auction"] == auction_id
        )
        expected_notices = {
            "no bids": [(seller.id, "auction_ended")],
            "one bidder": [(seller.id, "auction_ended"), (buyer.id, "auction_won")],
            "two bidders": [
                (seller.id, "auction_ended"),
                (buyer.id, "auction_lost"),
                (rival.id, "auction_won"),
            ],
            "reserve not met": [(seller.id, "auction_ended"), (buyer.id, "auction_lost")],
        }[kind]
        assert told == sorted(expected_notices), (kind, told)
        assert f"auction_ended:{auction_id}" in keys
        assert (f"auction_won:{auction_id}" in keys) == (won_by is not None)
    # Every email of every ending was handed over and sent, once.
    async with asyncio.timeout(30):
        while True:
            if not await OutboxEmail.count().where(OutboxEmail.sent_at.is_null()):
                break
            await asyncio.sleep(0.2)
    assert await OutboxEmail.count() == sum(
        {"no bids": 1, "one bidder": 2, "two bidders": 3, "reserve not met": 2}[k]
        for k in plan.values()
    )


async def test_a_scheduled_ending_racing_sweeps_and_callers_ends_once(
    live_server: LiveServer, inbox: SmtpInbox, seller: UserHandle, buyer: UserHandle
) -> None:
    """Two ending batchers (as two processes have), the scheduled task and direct calls, all at
    the end time: one of them ends each auction, once."""
    ids = [await make_auction(seller, ends_in=timedelta(seconds=2)) for _ in range(5)]
    for auction_id in ids:
        await add_bids(auction_id, [(buyer, 2600)])
        await live_server.schedule_auction_end(auction_id, await end_time_of(auction_id))
    end = max([await end_time_of(a) for a in ids])
    await asyncio.sleep((end - utc_now()).total_seconds() + 0.01)
    settings, effects = live_server.settings, live_server.effects
    one, two = (
        Endings(settings, effects, AUCTION_ORDERS),
        Endings(settings, effects, AUCTION_ORDERS),
    )
    outcomes = await asyncio.gather(
        *(one.end(a) for a in ids),
        *(two.end(a) for a in ids),
        *(finish_auction(a, live_server.app.state.endings) for a in ids),
        one.sweep(),
        two.sweep(),
    )
    ended_here = [o for o in outcomes[: 3 * len(ids)] if o is ENDED]
    assert len(ended_here) <= len(ids)  # never two for one auction
    await wait_until_ended(ids, 10)
    await asyncio.sleep(2.5)  # a sweep or two later: still once
    for auction_id in ids:
        events = await AuctionEvent.select(AuctionEvent.payload).where(
            AuctionEvent.auction == auction_id
        )
        assert sum('"type":"auction_ended"' in e["payload"] for e in events) == 1
        assert await Order.count().where(Order.auction == auction_id) == 1
    assert await Notification.count().where(Notification.notification_type == "auction_won") == 5
    assert len(await inbox.wait_for(buyer.email, 5)) == 5
    await asyncio.sleep(0.5)
    assert len(inbox.to(buyer.email)) == 5


@pytest.mark.sqlite_only  # in-process: no worker's sweep of its own to race the broken ending
async def test_an_auction_that_cannot_be_ended_does_not_hold_up_the_others(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [await make_auction(seller) for _ in range(3)]
    for auction_id in ids:
        await add_bids(auction_id, [(buyer, 2600)])
    broken = ids[1]
    write = ending_outcomes.Ending.write

    def failing_write(ending: ending_outcomes.Ending, *args: object) -> None:
        if ending.auction_id == broken:
            raise RuntimeError("cannot be ended")
        write(ending, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ending_outcomes.Ending, "write", failing_write)
    await Auction.update({Auction.end_time: utc_now() - timedelta(seconds=1)}).where(
        Auction.id.is_in(ids)
    )
    ending = Endings(live_server.settings, live_server.effects, AUCTION_ORDERS)
    outcomes = await asyncio.gather(*(ending.end(a) for a in ids), return_exceptions=True)
    assert outcomes[0] in (ENDED, GONE) and outcomes[2] in (ENDED, GONE)  # GONE: the sweep ended it
    assert isinstance(outcomes[1], RuntimeError)
    statuses = {r["id"]: r["status"] for r in await Auction.select().where(Auction.id.is_in(ids))}
    assert statuses == {ids[0]: "ended", broken: "active", ids[2]: "ended"}
    monkeypatch.undo()  # repaired: the sweep ends it
    await wait_until_ended([broken], 10)
    assert await Order.count().where(Order.auction.is_in(ids)) == 3


@pytest.mark.postgres_only
async def test_the_schedule_source_finds_past_minutes_without_scanning(
    live_server: LiveServer,
) -> None:
    """A one-off of a past minute that was never sent (the scheduler was down) is found, through
    the index of minute lists; minutes whose one-offs were all sent leave the index."""
    from redis.asyncio import Redis

    url = live_server.settings.redis_url
    assert url is not None
    prefix = f"test-{secrets.token_hex(4)}:schedule"  # a colon in the prefix, as deployed
    source = ReconnectingScheduleSource(url, prefix=prefix)
    now = utc_now()

    async def one_off(name: str, at: datetime) -> str:
        kicker = by_name(END_AUCTION_TASK, live_server.effects.broker)
        created = await kicker.with_schedule_id(name).schedule_by_time(source, at, 1)
        return created.schedule_id

    missed = await one_off("missed", now - timedelta(minutes=5))
    sent = await one_off("sent", now - timedelta(minutes=3))
    await source.delete_schedule(sent)  # as the scheduler does once it sent it
    later = await one_off("later", now + timedelta(minutes=5))
    try:
        found = {s.schedule_id for s in await source.get_schedules()}
        assert missed in found and later not in found and sent not in found
        async with Redis.from_url(url) as redis:
            minutes = cast(set[bytes], await redis.smembers(f"{prefix}:time-index"))
            indexed = {k.decode() for k in minutes}
            assert indexed == {
                source._get_time_key(now - timedelta(minutes=5)),
                source._get_time_key(now + timedelta(minutes=5)),
            }
    finally:
        async with Redis.from_url(url) as redis:
            keys = [k async for k in redis.scan_iter(f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
        await source.shutdown()


# --- orders and payment ----------------------------------------------------------------------


async def test_missed_deadlines_block_the_buyer_at_the_third(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    inbox: SmtpInbox,
    seller: UserHandle,
    buyer: UserHandle,
) -> None:
    orders = [await make_order(seller, buyer, deadline_in=-timedelta(minutes=1)) for _ in range(3)]
    still_open = await make_order(seller, buyer)
    assert await expire_overdue_orders(live_server.settings, live_server.effects) == 3
    assert await expire_overdue_orders(live_server.settings, live_server.effects) == 0  # idempotent

    rows = await Order.select(Order.id, Order.status, Order.auction).where(Order.id.is_in(orders))
    assert {r["status"] for r in rows} == {"payment_failed"}
    auctions = await Auction.select(Auction.status).where(
        Auction.id.is_in([r["auction"] for r in rows])
    )
    assert {a["status"] for a in auctions} == {"cancelled"}
    assert await PaymentViolation.count().where(PaymentViolation.user == buyer.id) == 3
    untouched = await Order.select(Order.status).where(Order.id == still_open).first()
    assert untouched is not None and untouched["status"] == "pending_payment"
    profile = await UserProfile.select().where(UserProfile.user == buyer.id).first()
    assert profile is not None
    assert (profile["failed_payment_count"], profile["is_blocked"]) == (3, True)
    assert (await notifications_of(buyer))["account_blocked"] == (
        "Account Blocked",
        "Your account has been blocked due to 3 failed payments.",
    )
    [email] = await inbox.wait_for(buyer.email)
    assert email["Subject"] == "Your MadeInPK account has been blocked"
    assert "due to 3 failed payments" in email.get_content()

    # Blocked: no bidding over REST or the socket, and no logging in.
    auction_id = await make_auction(seller)
    response = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": 3000}, headers=buyer.auth
    )
    assert (response.status_code, response.json()) == (403, {"error": "Your account is blocked"})
    async with watch(live_server.url, auction_id, buyer.token) as ws:
        assert await ws.bid(3000) == error("Your account is blocked", "blocked")
    login = await client.post("/api/auth/login/", json={"email": buyer.email, "password": PASSWORD})
    assert (login.status_code, login.json()) == (403, {"error": "Your account is blocked"})


async def test_two_misses_do_not_block(
    live_server: LiveServer, seller: UserHandle, buyer: UserHandle
) -> None:
    for _ in range(2):
        await make_order(seller, buyer, deadline_in=-timedelta(minutes=1))
    assert await expire_overdue_orders(live_server.settings, live_server.effects) == 2
    profile = await UserProfile.select().where(UserProfile.user == buyer.id).first()
    assert profile is not None
    assert (profile["failed_payment_count"], profile["is_blocked"]) == (2, False)
    assert "account_blocked" not in await notifications_of(buyer)


async def test_confirm_payment_and_mark_shipped_rules(
    live_server: LiveServer,
    client: httpx.AsyncClient,
    inbox: SmtpInbox,
    seller: UserHandle,
    buyer: UserHandle,
) -> None:
    order_id = await make_order(seller, buyer)
    url = f"/api/orders/{order_id}"
    stranger = await make_user(live_server.settings)

    early = await client.post(f"{url}/mark_shipped/", headers=seller.auth)
    assert (early.status_code, early.json()) == (400, {"error": "Order must be paid first"})
    by_buyer = await client.post(f"{url}/confirm_payment/", headers=buyer.auth)
    assert by_buyer.status_code == 403
    by_stranger = await client.post(f"{url}/confirm_payment/", headers=stranger.auth)
    assert by_stranger.status_code == 404

    confirmed = await client.post(f"{url}/confirm_payment/", headers=seller.auth)
    assert confirmed.status_code == 200
    order = (await client.get(f"{url}/", headers=buyer.auth)).json()
    assert order["status"] == "paid" and order["paid_at"].endswith("Z")
    auction = await Auction.select(Auction.status).where(Auction.id == order["product"]).first()
    completed = (
        await Auction.select(Auction.status).where(Auction.product == order["product"]).first()
    )
    assert completed is not None and completed["status"] == "completed"
    assert auction is None or auction["status"] in {s.value for s in AuctionStatus}
    for user in (buyer, seller):
        title, message = (await notifications_of(user))["payment_received"]
        assert title == "Payment received" and order["order_number"] in message
        [email] = await inbox.wait_for(user.email)
        assert email["Subject"] == f"Payment received for order {order['order_number']}"
    again = await client.post(f"{url}/confirm_payment/", headers=seller.auth)
    assert (again.status_code, again.json()) == (
        400,
        {"error": "Only orders awaiting payment can be confirmed"},
    )

    not_seller = await client.post(f"{url}/mark_shipped/", headers=buyer.auth)
    assert (not_seller.status_code, not_seller.json()) == (
        403,
        {"error": "Only seller can mark as shipped"},
    )
    shipped = await client.post(f"{url}/mark_shipped/", headers=seller.auth)
    assert (shipped.status_code, shipped.json()) == (200, {"message": "Order marked as shipped"})
    assert (await client.get(f"{url}/", headers=seller.auth)).json()["status"] == "shipped"
    assert "order_shipped" in await notifications_of(buyer)


async def test_feedback_opens_once_shipped(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    order_id = await make_order(seller, buyer, status=OrderStatus.paid)
    body = {
        "order_id": order_id,
        "seller_rating": 4,
        "platform_rating": 5,
        "communication_rating": 5,
        "shipping_speed_rating": 3,
        "seller_comment": "Beautiful shawl, packed with care.",
    }
    too_early = await client.post("/api/feedbacks/", json=body, headers=buyer.auth)
    assert (too_early.status_code, too_early.json()) == (
        400,
        {"error": "Order must be shipped before feedback"},
    )
    assert (
        await client.post(f"/api/orders/{order_id}/mark_shipped/", headers=seller.auth)
    ).status_code == 200
    not_buyer = await client.post("/api/feedbacks/", json=body, headers=seller.auth)
    assert (not_buyer.status_code, not_buyer.json()) == (
        400,
        {"error": "Order not found or you are not the buyer"},
    )
    bad = await client.post(
        "/api/feedbacks/", json={**body, "seller_rating": 6}, headers=buyer.auth
    )
    assert (bad.status_code, bad.json()) == (
        400,
        {"seller_rating": ["Ensure this value is between 1 and 5."]},
    )
    created = await client.post("/api/feedbacks/", json=body, headers=buyer.auth)
    assert created.status_code == 201, created.text
    assert created.json()["seller_rating"] == 4 and created.json()["product_as_described"] is True
    again = await client.post("/api/feedbacks/", json=body, headers=buyer.auth)
    assert (again.status_code, again.json()) == (400, {"error": "Feedback already submitted"})
    profile = await SellerProfile.select().where(SellerProfile.user == seller.id).first()
    assert profile is not None
    assert (f"{profile['average_rating']:.2f}", profile["total_feedbacks"]) == ("4.00", 1)
