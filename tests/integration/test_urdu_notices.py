"""Urdu for the newer notices and emails (docs/languages.md): ending soon and auction started,
a bid removed and a lead regained, second-chance offers and their answers and expiry, and Buy
It Now's ending, each written in its recipient's language, an English recipient's words
unchanged beside it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.after_commit import AfterCommit
from madeinpk.auctions.lifecycle.reminders import send_reminders
from madeinpk.auctions.lifecycle.watch_notices import tell_watchers_started
from madeinpk.auctions.tables import Auction, Watch
from madeinpk.db.sql import transaction
from madeinpk.notifications.tables import OutboxEmail
from madeinpk.notifications.texts import Language
from madeinpk.orders.offer_expiry import expire_due_offers
from madeinpk.orders.tables import Offer, Order
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer, SmtpInbox
from tests.integration.factories import UserHandle, make_auction, make_user
from tests.integration.orders.test_second_chance import missed_order, post
from tests.integration.test_urdu import SHAWL, notices_of, text

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")


async def place(
    client: httpx.AsyncClient, auction_id: int, user: UserHandle, amount: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": amount}, headers=user.auth
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_ending_soon_and_started_are_written_in_each_watchers_language(
    live_server: LiveServer, seller: UserHandle, inbox: SmtpInbox
) -> None:
    settings = dataclasses.replace(live_server.settings, ending_soon_minutes=60)
    urdu = await make_user(settings, language=Language.ur)
    english = await make_user(settings)
    auction_id = await make_auction(
        seller, starting_price="150000.00", ends_in=timedelta(minutes=30)
    )
    now = utc_now()
    for user in (urdu, english):
        await Watch.insert(Watch(user=user.id, auction=auction_id, created_at=now))
    reminded, done = await send_reminders(settings, [auction_id])
    assert reminded == [auction_id]
    live_server.effects.flush(done)

    assert (await notices_of(urdu))["auction_ending_soon"] == (
        "نیلامی جلد ختم ہو رہی ہے",
        f"نیلامی برائے {SHAWL}، 30 منٹ میں ختم ہو رہی ہے۔ موجودہ قیمت: 1,50,000.00 روپے۔",
    )
    [email] = await inbox.wait_for(urdu.email)
    assert email["Subject"] == f"نیلامی برائے {SHAWL} جلد ختم ہو رہی ہے"
    assert text(email).startswith(f"محترم {urdu.username}،\n\nنیلامی برائے {SHAWL}، 30 منٹ میں")
    assert "موجودہ قیمت: 1,50,000.00 روپے\n\nآپ یہ نیلامی دیکھ رہے ہیں۔\n" in text(email)

    assert (await notices_of(english))["auction_ending_soon"] == (
        "Auction ending soon",
        f"The auction for {SHAWL} ends in 30 minutes. Current price: Rs. 150000.00.",
    )
    [email] = await inbox.wait_for(english.email)
    assert email["Subject"] == f"The auction for {SHAWL} ends soon"
    assert "Current price: Rs. 150000.00\n\nYou are watching this auction.\n" in text(email)

    # The same watchers hear of an opening in their language.
    started = AfterCommit()
    async with transaction(Auction._meta.db) as db:
        await tell_watchers_started(db, [auction_id], started, utc_now())
    assert (await notices_of(urdu))["auction_started"] == (
        "نیلامی شروع ہو گئی",
        f"نیلامی برائے {SHAWL} شروع ہو گئی ہے۔ ابتدائی قیمت: 1,50,000.00 روپے۔",
    )
    assert (await notices_of(english))["auction_started"] == (
        "Auction started",
        f"The auction for {SHAWL} has started. Starting price: Rs. 150000.00.",
    )
    [mail] = await OutboxEmail.select(OutboxEmail.subject, OutboxEmail.body).where(
        OutboxEmail.dedupe_key == f"auction_started:{auction_id}:{urdu.id}"
    )
    assert mail["subject"] == f"نیلامی برائے {SHAWL} شروع ہو گئی ہے"
    assert "بولی 1,50,000.00 روپے سے شروع ہے۔" in mail["body"]


async def test_a_removed_bid_and_a_regained_lead_are_told_in_urdu(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    first = await make_user(live_server.settings, language=Language.ur)
    second = await make_user(live_server.settings, language=Language.ur)
    staff = await make_user(live_server.settings, staff=True)
    auction_id = await make_auction(seller)
    await place(client, auction_id, first, "150000")
    leading = await place(client, auction_id, second, "200000")
    response = await client.post(f"/api/bids/{leading['id']}/remove/", headers=staff.auth)
    assert response.status_code == 200, response.text

    assert (await notices_of(second))["bid_removed"] == (
        "آپ کی بولی ہٹا دی گئی",
        f"{SHAWL} پر آپ کی 2,00,000.00 روپے کی بولی ہمارے عملے نے ہٹا دی۔",
    )
    assert (await notices_of(first))["lead_regained"] == (
        "سب سے زیادہ بولی پھر آپ کی ہے",
        f"{SHAWL} پر ایک بولی ہٹا دی گئی: 1,50,000.00 روپے پر آپ پھر سب سے آگے ہیں۔",
    )


async def test_second_chance_offers_and_answers_in_each_ones_language(
    client: httpx.AsyncClient, live_server: LiveServer, inbox: SmtpInbox
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller, language=Language.ur)
    winner = await make_user(live_server.settings)
    second = await make_user(live_server.settings, language=Language.ur)
    order_id, _ = await missed_order(live_server, seller, winner, (second, "125000.00"))
    offer = await post(client, f"/api/orders/{order_id}/second_chance/", seller, 201)

    title, message = (await notices_of(second))["second_chance_offer"]
    assert title == "خریدنے کا ایک اور موقع"
    assert message.startswith(
        f"فروخت کنندہ آپ کو {SHAWL} آپ کی سب سے زیادہ بولی، 1,25,000.00 روپے، پر پیش کر رہا ہے۔ "
    )
    assert message.endswith(" UTC سے پہلے قبول یا مسترد کریں۔")
    [email] = await inbox.wait_for(second.email)
    assert email["Subject"] == f"خریدنے کا ایک اور موقع: {SHAWL}"
    assert "آپ کی سب سے\nزیادہ بولی، 1,25,000.00 روپے، پر پیش کر رہا ہے۔" in text(email)

    accepted = await post(client, f"/api/offers/{offer['id']}/accept/", second, 200)
    [new_order] = await Order.select(Order.order_number).where(Order.id == accepted["new_order"])
    number = new_order["order_number"]
    url = f"{live_server.settings.site_url}/orders/{number}/pay/"
    assert (await notices_of(second))["offer_accepted"] == (
        "دوسرے موقع کی پیشکش قبول ہو گئی",
        f"آپ نے {SHAWL} کی پیشکش 1,25,000.00 روپے میں قبول کر لی۔ براہِ کرم 24 گھنٹوں کے اندر "
        f"ادائیگی مکمل کریں: {url}",
    )
    assert (await notices_of(seller))["offer_accepted"] == (
        "دوسرے موقع کی پیشکش قبول ہو گئی",
        f"{second.username} نے {SHAWL} کے لیے آپ کی پیشکش 1,25,000.00 روپے میں قبول کر لی: "
        f"آرڈر {number}۔",
    )
    [told] = await inbox.wait_for(seller.email)
    assert told["Subject"] == f"دوسرے موقع کی پیشکش برائے {SHAWL}: قبول"
    assert f"({'1,25,000.00'} روپے) کا جواب دیا: قبول۔\n" in text(told)
    assert f"آرڈر {number}، 24 گھنٹوں کے اندر ان کی ادائیگی کا منتظر ہے۔" in text(told)

    # An English bidder's offer stays English; the Urdu seller hears of its expiry in Urdu.
    other = await make_user(live_server.settings)
    order_id, _ = await missed_order(live_server, seller, winner, (other, "2600.00"))
    unanswered = await post(client, f"/api/orders/{order_id}/second_chance/", seller, 201)
    assert (await notices_of(other))["second_chance_offer"][1].startswith(
        f"The seller offers you {SHAWL} at your highest bid of Rs. 2600.00. Accept or decline "
        "before "
    )
    await Offer.update({Offer.expires_at: utc_now() - timedelta(seconds=1)}).where(
        Offer.id == unanswered["id"]
    )
    assert await expire_due_offers(live_server.effects) == 1
    assert (await notices_of(seller))["offer_expired"] == (
        "دوسرے موقع کی پیشکش کی مدت ختم ہو گئی",
        f"{SHAWL} کے لیے آپ کی پیشکش کا وقت پر جواب نہیں آیا۔",
    )


async def test_buy_now_tells_buyer_seller_and_bidders_each_in_their_language(
    client: httpx.AsyncClient, live_server: LiveServer, inbox: SmtpInbox
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller, language=Language.ur)
    buyer = await make_user(live_server.settings, language=Language.ur)
    rival = await make_user(live_server.settings)
    auction_id = await make_auction(seller, buy_now_price="150000.00")
    await place(client, auction_id, rival, "2600")
    bought = await client.post(f"/api/auctions/{auction_id}/buy_now/", headers=buyer.auth)
    assert bought.status_code == 201, bought.text
    number = bought.json()["order"]["order_number"]
    url = f"{live_server.settings.site_url}/orders/{number}/pay/"

    assert (await notices_of(buyer))["auction_won"] == (
        "مبارک ہو! آپ نے نیلامی جیت لی",
        f"آپ نے نیلامی برائے {SHAWL} جیت لی۔ براہِ کرم 24 گھنٹوں کے اندر ادائیگی مکمل کریں: {url}",
    )
    [won] = await inbox.wait_for(buyer.email)
    assert won["Subject"] == f"مبارک ہو! آپ نے نیلامی جیت لی: {SHAWL}"
    assert f"نیلامی برائے {SHAWL}، 1,50,000.00 روپے کی بولی سے جیت لی۔" in text(won)
    assert (await notices_of(seller))["auction_ended"] == (
        "آپ کی نیلامی ختم ہو گئی",
        f"آپ کی نیلامی برائے {SHAWL} ختم ہو گئی۔ جیتنے والے: {buyer.username}",
    )
    [ended] = await inbox.wait_for(seller.email)
    assert ended["Subject"] == f"آپ کی نیلامی ختم ہو گئی: {SHAWL}"
    assert f"جیتنے والے: {buyer.username}، 1,50,000.00 روپے میں۔" in text(ended)
    assert (await notices_of(rival))["auction_lost"] == (
        "Auction ended",
        f"The auction for {SHAWL} has ended. The winning bid was Rs. 150000.00.",
    )
