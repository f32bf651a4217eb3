"""Urdu: a user's language (from ``Accept-Language`` at registration, or the profile), the
notices and emails written to an Urdu user in Urdu with amounts grouped the Pakistani way, an
English user's unchanged, and the API's own words English whatever the caller's language."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from madeinpk.accounts.tables import Role, UserProfile
from madeinpk.auctions.tables import Auction
from madeinpk.notifications.tables import Notification
from madeinpk.notifications.texts import Language
from madeinpk.orders.tables import Order
from tests.integration.accounts.test_accounts import body
from tests.integration.conftest import LiveServer, SmtpInbox
from tests.integration.factories import UserHandle, make_auction, make_order, make_user
from tests.integration.notifications.test_notification_socket import alerts
from tests.integration.sockets import error, watch

pytestmark = pytest.mark.usefixtures("task_worker", "task_scheduler")

URDU_BROWSER = {"Accept-Language": "ur-PK,ur;q=0.9,en-US;q=0.8,en;q=0.7"}
SHAWL = "Handwoven Pashmina Shawl"


async def notices_of(user: UserHandle) -> dict[str, tuple[str, str]]:
    rows = await Notification.select().where(Notification.user == user.id)
    return {r["notification_type"]: (r["title"], r["message"]) for r in rows}


async def language_of(user_id: int) -> str:
    row = await UserProfile.select(UserProfile.language).where(UserProfile.user == user_id).first()
    assert row is not None
    return str(row["language"])


def text(email: object) -> str:
    return str(email.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


async def bid(client: httpx.AsyncClient, auction_id: int, user: UserHandle, amount: str) -> None:
    response = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": amount}, headers=user.auth
    )
    assert response.status_code == 201, response.text


# --- the user's language ------------------------------------------------------------------------


async def test_registration_takes_the_browsers_language(client: httpx.AsyncClient) -> None:
    urdu = await client.post("/api/auth/register/", json=body(), headers=URDU_BROWSER)
    assert urdu.status_code == 201, urdu.text
    assert "language" not in urdu.json()["user"]  # the customer's register body, unchanged
    user_id = urdu.json()["user"]["id"]
    assert await language_of(user_id) == "ur"
    [welcome] = await Notification.select().where(Notification.user == user_id)
    assert welcome["title"] == "MadeInPK میں خوش آمدید!"
    assert welcome["message"].startswith(f"السلام علیکم {urdu.json()['user']['username']}،")

    for header in ({}, {"Accept-Language": "en-GB,fr;q=0.5"}, {"Accept-Language": "fr, ;q=x"}):
        english = await client.post("/api/auth/register/", json=body(), headers=header)
        assert english.status_code == 201, english.text
        user = english.json()["user"]
        assert await language_of(user["id"]) == "en"
        [welcome] = await Notification.select().where(Notification.user == user["id"])
        assert (welcome["title"], welcome["message"]) == (
            "Welcome to MadeInPK!",
            f"Hi {user['username']}, welcome to MadeInPK: handmade goods from Pakistan's "
            "artisans, sold by live auction.",
        )


async def test_the_profile_shows_and_sets_the_language(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    user = await make_user(live_server.settings)
    profile = await client.get("/api/auth/profile/", headers=user.auth)
    assert profile.json()["language"] == "en"
    changed = await client.patch("/api/auth/profile/", json={"language": "ur"}, headers=user.auth)
    assert (changed.status_code, changed.json()["language"]) == (200, "ur")
    assert await language_of(user.id) == "ur"

    for wrong in ("fr", "UR", "", "urdu"):
        refused = await client.patch(
            "/api/auth/profile/", json={"language": wrong}, headers=user.auth
        )
        assert (refused.status_code, refused.json()) == (
            400,
            {"language": [f'"{wrong}" is not a valid choice.']},
        )
    not_text = await client.patch("/api/auth/profile/", json={"language": 7}, headers=user.auth)
    assert not_text.status_code == 400 and "language" in not_text.json()
    assert await language_of(user.id) == "ur"  # a refused change changes nothing

    # The multipart form takes it too.
    form = await client.put("/api/auth/profile/", data={"language": "en"}, headers=user.auth)
    assert (form.status_code, form.json()["language"]) == (200, "en")

    schemas = (await client.get("/schema/openapi.json")).json()["components"]["schemas"]
    assert "language" in schemas["Profile"]["properties"]
    assert "language" in schemas["ProfileUpdate"]["properties"]
    assert "language" not in schemas["RegisterRequest"]["properties"]


async def test_api_errors_stay_english_for_an_urdu_caller(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    urdu = await make_user(live_server.settings, language=Language.ur)
    auction_id = await make_auction(seller)
    headers = {**urdu.auth, **URDU_BROWSER}
    low = await client.post(
        f"/api/auctions/{auction_id}/place_bid/", json={"amount": "100"}, headers=headers
    )
    assert (low.status_code, low.json()) == (
        400,
        {"amount": ["Bid must be higher than current price of 2500.00"]},
    )
    own = await client.post(
        f"/api/auctions/{auction_id}/place_bid/",
        json={"amount": "3000"},
        headers={**seller.auth, **URDU_BROWSER},
    )
    assert own.json() == {"error": "You cannot bid on your own auction"}
    login = await client.post(
        "/api/auth/login/", json={"email": urdu.email, "password": "wrong"}, headers=URDU_BROWSER
    )
    assert (login.status_code, login.json()) == (401, {"error": "Invalid credentials"})


async def test_socket_errors_stay_english_for_an_urdu_bidder(
    live_server: LiveServer, seller: UserHandle
) -> None:
    urdu = await make_user(live_server.settings, language=Language.ur)
    auction_id = await make_auction(seller)
    async with watch(live_server.url, auction_id, urdu.token) as ws:
        assert await ws.bid(100) == error(
            "Bid must be higher than current price of 2500.00", "too_low"
        )


# --- notices and emails ---------------------------------------------------------------------------


async def test_outbid_in_urdu_with_lakh_grouping_and_english_unchanged(
    client: httpx.AsyncClient, live_server: LiveServer, inbox: SmtpInbox, seller: UserHandle
) -> None:
    urdu = await make_user(live_server.settings, language=Language.ur)
    english = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    await bid(client, auction_id, urdu, "150000")
    await bid(client, auction_id, english, "1234567.50")  # outbids the Urdu bidder
    await bid(client, auction_id, urdu, "12345678")  # outbids the English one

    assert (await notices_of(urdu))["bid_outbid"] == (
        "آپ سے زیادہ بولی لگ گئی ہے",
        f"کسی نے 12,34,567.50 روپے کی زیادہ بولی لگائی ہے: {SHAWL}",
    )
    [email] = await inbox.wait_for(urdu.email)
    assert email["Subject"] == f"آپ سے زیادہ بولی لگ گئی ہے: {SHAWL}"
    assert text(email).startswith(f"محترم {urdu.username}،\n\nنیلامی برائے {SHAWL} میں")
    assert "نئی سب سے زیادہ بولی: 12,34,567.50 روپے\n" in text(email)

    assert (await notices_of(english))["bid_outbid"] == (
        "You have been outbid",
        f"Someone placed a higher bid of Rs. 12345678.00 on {SHAWL}",
    )
    [email] = await inbox.wait_for(english.email)
    assert email["Subject"] == f"You have been outbid on {SHAWL}"
    assert "New highest bid: Rs. 12345678.00\n" in text(email)


async def test_an_ending_tells_each_in_their_language(
    client: httpx.AsyncClient, live_server: LiveServer, inbox: SmtpInbox
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller, language=Language.ur)
    winner = await make_user(live_server.settings, language=Language.ur)
    loser = await make_user(live_server.settings)
    auction_id = await make_auction(seller, ends_in=timedelta(seconds=2))
    row = await Auction.select(Auction.end_time).where(Auction.id == auction_id).first()
    assert row is not None
    await live_server.schedule_auction_end(auction_id, row["end_time"])
    await bid(client, auction_id, loser, "250000")
    await bid(client, auction_id, winner, "275000")

    [won] = await inbox.wait_for(winner.email)
    [order] = await Order.select(Order.order_number).where(Order.auction == auction_id)
    url = f"{live_server.settings.site_url}/orders/{order['order_number']}/pay/"
    assert won["Subject"] == f"مبارک ہو! آپ نے نیلامی جیت لی: {SHAWL}"
    assert f"نیلامی برائے {SHAWL}، 2,75,000.00 روپے کی بولی سے جیت لی۔" in text(won)
    assert f"آپ کا آرڈر نمبر {order['order_number']} ہے۔" in text(won) and url in text(won)
    assert (await notices_of(winner))["auction_won"] == (
        "مبارک ہو! آپ نے نیلامی جیت لی",
        f"آپ نے نیلامی برائے {SHAWL} جیت لی۔ براہِ کرم 24 گھنٹوں کے اندر ادائیگی مکمل کریں: {url}",
    )
    [ended] = await inbox.wait_for(seller.email)
    assert ended["Subject"] == f"آپ کی نیلامی ختم ہو گئی: {SHAWL}"
    assert (
        f"آپ کی نیلامی برائے {SHAWL} ختم ہو گئی۔ جیتنے والے: {winner.username}، 2,75,000.00 روپے "
        "میں۔ خریدار کو ادائیگی کی تفصیلات بھیج دی گئی ہیں۔"
    ) in text(ended)
    assert (await notices_of(seller))["auction_ended"] == (
        "آپ کی نیلامی ختم ہو گئی",
        f"آپ کی نیلامی برائے {SHAWL} ختم ہو گئی۔ جیتنے والے: {winner.username}",
    )

    # The English loser: the customer's words, as before.
    assert (await notices_of(loser))["auction_lost"] == (
        "Auction ended",
        f"The auction for {SHAWL} has ended. The winning bid was Rs. 275000.00.",
    )
    mails = await inbox.wait_for(loser.email, 2)  # outbid, then lost
    lost = next(m for m in mails if m["Subject"] == f"The auction for {SHAWL} has ended")
    assert f"The auction for {SHAWL} has ended. The winning bid was Rs. 275000.00.\n" in text(lost)


async def test_orders_write_to_buyer_and_seller_each_in_their_language(
    client: httpx.AsyncClient, live_server: LiveServer, inbox: SmtpInbox
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    buyer = await make_user(live_server.settings, language=Language.ur)
    order_id = await make_order(seller, buyer)
    number = (await client.get(f"/api/orders/{order_id}/", headers=buyer.auth)).json()[
        "order_number"
    ]
    confirmed = await client.post(f"/api/orders/{order_id}/confirm_payment/", headers=seller.auth)
    assert confirmed.status_code == 200

    assert (await notices_of(buyer))["payment_received"] == (
        "ادائیگی موصول ہو گئی",
        f"آرڈر {number} کے لیے 3,000.00 روپے کی ادائیگی موصول ہو گئی ہے۔",
    )
    [paid] = await inbox.wait_for(buyer.email)
    assert paid["Subject"] == f"ادائیگی موصول ہو گئی: آرڈر {number}"
    assert "فروخت کنندہ جلد آپ کی چیز روانہ کرے گا" in text(paid)
    assert (await notices_of(seller))["payment_received"] == (
        "Payment received",
        f"Payment of Rs. 3000.00 for order {number} has been received.",
    )
    [told] = await inbox.wait_for(seller.email)
    assert told["Subject"] == f"Payment received for order {number}"
    assert "Please ship the item and mark the order as shipped." in text(told)

    shipped = await client.post(f"/api/orders/{order_id}/mark_shipped/", headers=seller.auth)
    assert shipped.status_code == 200
    assert (await notices_of(buyer))["order_shipped"] == (
        "آپ کا آرڈر روانہ ہو گیا ہے",
        f"آرڈر {number} ({SHAWL}) راستے میں ہے۔",
    )


async def test_an_urdu_notice_is_pushed_in_urdu(
    client: httpx.AsyncClient, live_server: LiveServer, seller: UserHandle
) -> None:
    urdu = await make_user(live_server.settings, language=Language.ur)
    rival = await make_user(live_server.settings)
    auction_id = await make_auction(seller)
    async with alerts(live_server.url, urdu) as feed:
        assert (await feed.receive())["type"] == "unread_count"
        await bid(client, auction_id, urdu, "2600")
        await bid(client, auction_id, rival, "100000")
        pushed = await feed.receive()
    assert pushed["type"] == "notification"
    assert (pushed["data"]["title"], pushed["data"]["message"]) == (
        "آپ سے زیادہ بولی لگ گئی ہے",
        f"کسی نے 1,00,000.00 روپے کی زیادہ بولی لگائی ہے: {SHAWL}",
    )
    assert pushed["data"]["notification_type"] == "bid_outbid"  # the protocol's words
