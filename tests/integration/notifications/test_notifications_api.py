"""Notifications over real HTTP: ``rest-api.md`` § Notifications, own rows only, exact bodies."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from madeinpk.accounts.tables import Role
from madeinpk.notifications.service import notify
from madeinpk.notifications.tables import Notification, NotificationType
from madeinpk.timestamps import utc_now
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_auction, make_user

NOT_FOUND = {"detail": "Not found."}
NOTIFICATION_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": int,
    "notification_type": str,
    "title": str,
    "message": str,
    "is_read": bool,
    "order": (int, type(None)),
    "auction": (int, type(None)),
    "created_at": str,
}


@pytest.fixture
async def user(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


@pytest.fixture
async def other(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


async def add(
    user: UserHandle,
    *,
    kind: NotificationType = NotificationType.general,
    title: str = "Hello",
    is_read: bool = False,
    auction_id: int | None = None,
    age: timedelta = timedelta(0),
) -> int:
    """One notification of ``user``, ``age`` old; returns its id."""
    rows = await Notification.insert(
        Notification(
            user=user.id,
            notification_type=kind.value,
            title=title,
            message=f"{title}, {user.username}",
            is_read=is_read,
            auction=auction_id,
            order=None,
            created_at=utc_now() - age,
        )
    ).returning(Notification.id)
    return int(rows[0]["id"])


async def is_read(notification_id: int) -> bool:
    row = (
        await Notification.select(Notification.is_read)
        .where(Notification.id == notification_id)
        .first()
    )
    assert row is not None
    return bool(row["is_read"])


def assert_notification_shape(body: dict[str, object]) -> None:
    assert set(body) == set(NOTIFICATION_FIELDS)
    for field, kind in NOTIFICATION_FIELDS.items():
        assert isinstance(body[field], kind), field
    assert str(body["created_at"]).endswith("Z")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/notifications/"),
        ("GET", "/api/notifications/1/"),
        ("POST", "/api/notifications/1/mark_read/"),
        ("POST", "/api/notifications/mark_all_read/"),
        ("GET", "/api/notifications/unread_count/"),
        ("DELETE", "/api/notifications/1/"),
    ],
)
async def test_every_endpoint_needs_a_token(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    bad = await client.request(method, path, headers={"Authorization": "Token nope"})
    assert bad.status_code == 401
    assert bad.json() == {"detail": "Invalid token."}


async def test_list_is_own_only_newest_first_with_every_field(
    client: httpx.AsyncClient, live_server: LiveServer, user: UserHandle, other: UserHandle
) -> None:
    seller = await make_user(live_server.settings, role=Role.seller)
    auction_id = await make_auction(seller)
    oldest = await add(user, title="First", age=timedelta(minutes=3))
    middle = await add(
        user,
        kind=NotificationType.bid_outbid,
        title="You have been outbid",
        auction_id=auction_id,
        age=timedelta(minutes=2),
    )
    newest = await add(user, title="Third", is_read=True, age=timedelta(minutes=1))
    await add(other, title="Not yours")

    response = await client.get("/api/notifications/", headers=user.auth)
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert (page["count"], page["next"], page["previous"]) == (3, None, None)
    assert [n["id"] for n in page["results"]] == [newest, middle, oldest]
    for body in page["results"]:
        assert_notification_shape(body)
    outbid = page["results"][1]
    assert {k: v for k, v in outbid.items() if k != "created_at"} == {
        "id": middle,
        "notification_type": "bid_outbid",
        "title": "You have been outbid",
        "message": f"You have been outbid, {user.username}",
        "is_read": False,
        "order": None,
        "auction": auction_id,
    }
    assert page["results"][0]["is_read"] is True


async def test_notifications_from_the_service_show_up(
    client: httpx.AsyncClient, user: UserHandle
) -> None:
    """Rows written by ``notify`` (what every domain calls) are what the API lists."""
    await notify(user.id, NotificationType.payment_received, "Payment received", "Order AUC-1")
    response = await client.get("/api/notifications", headers=user.auth)  # no trailing slash
    assert response.status_code == 200
    [body] = response.json()["results"]
    assert_notification_shape(body)
    assert (body["notification_type"], body["title"], body["message"], body["is_read"]) == (
        "payment_received",
        "Payment received",
        "Order AUC-1",
        False,
    )


def link(live_server: LiveServer, query: str) -> set[str]:
    """An absolute page link (Litestar may drop the trailing slash; both spellings are served)."""
    return {f"{live_server.url}/api/notifications{slash}?{query}" for slash in ("", "/")}


async def test_pagination(
    client: httpx.AsyncClient, live_server: LiveServer, user: UserHandle
) -> None:
    ids = [await add(user, title=f"N{i}", age=timedelta(seconds=100 - i)) for i in range(25)]
    newest_first = list(reversed(ids))

    default = (await client.get("/api/notifications/", headers=user.auth)).json()
    assert default["count"] == 25
    assert [n["id"] for n in default["results"]] == newest_first[:20]
    assert default["next"] in link(live_server, "page=2")

    first = (await client.get("/api/notifications/?page_size=10", headers=user.auth)).json()
    assert first["count"] == 25
    assert [n["id"] for n in first["results"]] == newest_first[:10]
    assert first["previous"] is None
    assert first["next"] in link(live_server, "page_size=10&page=2")

    second = (await client.get(first["next"], headers=user.auth)).json()
    assert [n["id"] for n in second["results"]] == newest_first[10:20]
    assert second["previous"] in link(live_server, "page_size=10")
    last = (await client.get(second["next"], headers=user.auth)).json()
    assert [n["id"] for n in last["results"]] == newest_first[20:]
    assert last["next"] is None
    assert last["previous"] in link(live_server, "page_size=10&page=2")

    beyond = await client.get("/api/notifications/?page_size=10&page=4", headers=user.auth)
    assert beyond.status_code == 404
    assert beyond.json() == {"detail": "Invalid page."}


async def test_filters(client: httpx.AsyncClient, user: UserHandle, other: UserHandle) -> None:
    unread_general = await add(user, age=timedelta(minutes=3))
    read_general = await add(user, is_read=True, age=timedelta(minutes=2))
    unread_won = await add(user, kind=NotificationType.auction_won, age=timedelta(minutes=1))
    await add(other, kind=NotificationType.auction_won)

    async def ids(query: str) -> list[int]:
        response = await client.get(f"/api/notifications/?{query}", headers=user.auth)
        assert response.status_code == 200, response.text
        return [n["id"] for n in response.json()["results"]]

    assert await ids("is_read=false") == [unread_won, unread_general]
    assert await ids("is_read=true") == [read_general]
    assert await ids("is_read=True") == [read_general]
    assert await ids("is_read=0") == [unread_won, unread_general]
    assert await ids("notification_type=auction_won") == [unread_won]
    assert await ids("notification_type=general&is_read=false") == [unread_general]
    assert await ids("notification_type=bid_placed") == []
    assert await ids("is_read=&notification_type=") == [unread_won, read_general, unread_general]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("is_read=maybe", {"is_read": ["Must be a valid boolean."]}),
        ("is_read=yes", {"is_read": ["Must be a valid boolean."]}),
        (
            "notification_type=spam",
            {
                "notification_type": [
                    'Select a valid choice. "spam" is not one of the available choices.'
                ]
            },
        ),
    ],
)
async def test_bad_filter_values_are_field_errors(
    client: httpx.AsyncClient, user: UserHandle, query: str, expected: dict[str, list[str]]
) -> None:
    response = await client.get(f"/api/notifications/?{query}", headers=user.auth)
    assert response.status_code == 400
    assert response.json() == expected


async def test_retrieve_own_only(
    client: httpx.AsyncClient, user: UserHandle, other: UserHandle
) -> None:
    mine = await add(user, kind=NotificationType.auction_lost, title="Auction ended")
    theirs = await add(other)

    response = await client.get(f"/api/notifications/{mine}/", headers=user.auth)
    assert response.status_code == 200
    body = response.json()
    assert_notification_shape(body)
    assert (body["id"], body["notification_type"], body["title"]) == (
        mine,
        "auction_lost",
        "Auction ended",
    )

    for unknown in (theirs, mine + 1000, 99_999_999_999):
        missing = await client.get(f"/api/notifications/{unknown}/", headers=user.auth)
        assert missing.status_code == 404
        assert missing.json() == NOT_FOUND


async def test_mark_read(client: httpx.AsyncClient, user: UserHandle, other: UserHandle) -> None:
    mine = await add(user)
    theirs = await add(other)

    response = await client.post(f"/api/notifications/{mine}/mark_read/", headers=user.auth)
    assert response.status_code == 200
    assert response.json() == {"message": "Notification marked as read"}
    assert await is_read(mine)
    again = await client.post(f"/api/notifications/{mine}/mark_read/", headers=user.auth)
    assert again.status_code == 200

    refused = await client.post(f"/api/notifications/{theirs}/mark_read/", headers=user.auth)
    assert refused.status_code == 404
    assert refused.json() == NOT_FOUND
    assert not await is_read(theirs)


async def test_unread_count_and_mark_all_read(
    client: httpx.AsyncClient, user: UserHandle, other: UserHandle
) -> None:
    first, second = await add(user), await add(user)
    await add(user, is_read=True)
    theirs = await add(other)

    async def unread() -> object:
        response = await client.get("/api/notifications/unread_count/", headers=user.auth)
        assert response.status_code == 200
        return response.json()

    assert await unread() == {"unread_count": 2}
    await client.post(f"/api/notifications/{first}/mark_read/", headers=user.auth)
    assert await unread() == {"unread_count": 1}

    response = await client.post("/api/notifications/mark_all_read/", headers=user.auth)
    assert response.status_code == 200
    assert response.json() == {"message": "All notifications marked as read"}
    assert await unread() == {"unread_count": 0}
    assert await is_read(second)
    assert not await is_read(theirs)  # someone else's stay unread
    no_slash = await client.get("/api/notifications/unread_count", headers=other.auth)
    assert no_slash.json() == {"unread_count": 1}


async def test_delete_own_only(
    client: httpx.AsyncClient, user: UserHandle, other: UserHandle
) -> None:
    mine = await add(user)
    theirs = await add(other)

    response = await client.delete(f"/api/notifications/{mine}/", headers=user.auth)
    assert response.status_code == 204
    assert response.content == b""
    assert not await Notification.exists().where(Notification.id == mine)
    gone = await client.delete(f"/api/notifications/{mine}/", headers=user.auth)
    assert gone.status_code == 404
    assert gone.json() == NOT_FOUND

    refused = await client.delete(f"/api/notifications/{theirs}/", headers=user.auth)
    assert refused.status_code == 404
    assert refused.json() == NOT_FOUND
    assert await Notification.exists().where(Notification.id == theirs)


async def test_other_methods_are_not_allowed(client: httpx.AsyncClient, user: UserHandle) -> None:
    mine = await add(user)
    response = await client.put(f"/api/notifications/{mine}/", json={}, headers=user.auth)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.'}
