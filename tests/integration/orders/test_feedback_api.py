"""Feedback over real HTTP: ``rest-api.md`` § Seller profiles and feedback (listing, reading,
author-only edits and deletes, the seller rating kept in step, and ``seller_stats``)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from madeinpk.accounts.tables import Role, SellerProfile
from madeinpk.orders.tables import Feedback, OrderStatus
from tests.integration.conftest import LiveServer
from tests.integration.factories import UserHandle, make_order, make_user

FEEDBACK_FIELDS: dict[str, type] = {
    "id": int,
    "order": int,
    "buyer": int,
    "buyer_username": str,
    "seller": int,
    "seller_rating": int,
    "platform_rating": int,
    "communication_rating": int,
    "shipping_speed_rating": int,
    "seller_comment": str,
    "platform_comment": str,
    "product_as_described": bool,
    "created_at": str,
    "updated_at": str,
}
FORBIDDEN = {"detail": "You do not have permission to perform this action."}
NOT_FOUND = {"detail": "Not found."}
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
EMPTY_STATS = {
    "total_feedbacks": 0,
    "average_seller_rating": None,
    "average_communication": None,
    "average_shipping": None,
    "product_as_described_percent": None,
}


@pytest.fixture
async def stranger(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


async def shipped_order(seller: UserHandle, buyer: UserHandle) -> int:
    return await make_order(seller, buyer, status=OrderStatus.shipped)


def ratings(seller: int, communication: int, shipping: int, **extra: Any) -> dict[str, Any]:
    return {
        "seller_rating": seller,
        "platform_rating": 5,
        "communication_rating": communication,
        "shipping_speed_rating": shipping,
        **extra,
    }


async def give_feedback(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle, **body: Any
) -> dict[str, Any]:
    order_id = await shipped_order(seller, buyer)
    response = await client.post(
        "/api/feedbacks/", json={"order_id": order_id, **body}, headers=buyer.auth
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def without_times(feedback: dict[str, Any]) -> dict[str, Any]:
    assert set(feedback) == set(FEEDBACK_FIELDS)
    for field, kind in FEEDBACK_FIELDS.items():
        assert isinstance(feedback[field], kind), field
    for field in ("created_at", "updated_at"):
        assert feedback[field].endswith("Z"), feedback[field]
    return {k: v for k, v in feedback.items() if k not in ("created_at", "updated_at")}


async def rating_row(seller: UserHandle) -> tuple[str, int]:
    row = await SellerProfile.select().where(SellerProfile.user == seller.id).first()
    assert row is not None
    return f"{Decimal(str(row['average_rating'])):.2f}", row["total_feedbacks"]


async def rating_api(client: httpx.AsyncClient, seller: UserHandle) -> tuple[str, int]:
    public = (await client.get(f"/api/sellers/{seller.id}/")).json()
    [own] = (await client.get("/api/seller-profiles/", headers=seller.auth)).json()["results"]
    assert (own["average_rating"], own["total_feedbacks"]) == (
        public["average_rating"],
        public["total_feedbacks"],
    )
    return public["average_rating"], public["total_feedbacks"]


async def assert_rating(
    client: httpx.AsyncClient, seller: UserHandle, expected: tuple[str, int]
) -> None:
    assert await rating_row(seller) == expected
    assert await rating_api(client, seller) == expected


# --- creating and reading --------------------------------------------------------------------


async def test_created_feedback_is_readable_by_anyone(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    created = await give_feedback(
        client,
        seller,
        buyer,
        **ratings(4, 5, 3, seller_comment="Beautiful shawl.", platform_comment="Smooth."),
    )
    expected = {
        "id": created["id"],
        "order": created["order"],
        "buyer": buyer.id,
        "buyer_username": buyer.username,
        "seller": seller.id,
        "seller_rating": 4,
        "platform_rating": 5,
        "communication_rating": 5,
        "shipping_speed_rating": 3,
        "seller_comment": "Beautiful shawl.",
        "platform_comment": "Smooth.",
        "product_as_described": True,
    }
    assert without_times(created) == expected
    shown = await client.get(f"/api/feedbacks/{created['id']}/")  # anonymous
    assert (shown.status_code, shown.json()) == (200, created)
    no_slash = await client.get(f"/api/feedbacks/{created['id']}")
    assert (no_slash.status_code, no_slash.json()) == (200, created)
    await assert_rating(client, seller, ("4.00", 1))


async def test_unknown_feedback_is_404(client: httpx.AsyncClient, buyer: UserHandle) -> None:
    for feedback_id in (1, 2**31, 2**40):
        for method in ("GET", "PATCH", "DELETE"):
            response = await client.request(
                method, f"/api/feedbacks/{feedback_id}/", json={}, headers=buyer.auth
            )
            assert (response.status_code, response.json()) == (404, NOT_FOUND), method


async def test_put_is_not_allowed(client: httpx.AsyncClient, buyer: UserHandle) -> None:
    response = await client.put("/api/feedbacks/1/", json={}, headers=buyer.auth)
    assert (response.status_code, response.json()) == (405, {"detail": 'Method "PUT" not allowed.'})


# --- listing ----------------------------------------------------------------------------------


async def test_list_filters_by_seller_newest_first_and_pages(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    other_seller = await make_user(live_server.settings, role=Role.seller)
    mine = [await give_feedback(client, seller, buyer, **ratings(n, 4, 4)) for n in (3, 4, 5)]
    theirs = await give_feedback(client, other_seller, buyer, **ratings(2, 2, 2))

    everything = await client.get("/api/feedbacks/")
    assert everything.status_code == 200
    page = everything.json()
    assert (page["count"], page["next"], page["previous"]) == (4, None, None)
    assert [f["id"] for f in page["results"]] == [theirs["id"]] + [f["id"] for f in mine[::-1]]
    assert page["results"][0] == theirs

    first = (await client.get(f"/api/feedbacks/?seller={seller.id}&page_size=2")).json()
    assert first["count"] == 3 and first["previous"] is None
    assert [f["id"] for f in first["results"]] == [mine[2]["id"], mine[1]["id"]]
    assert f"seller={seller.id}" in first["next"] and "page=2" in first["next"]
    assert first["next"].startswith(live_server.url)
    second = (await client.get(first["next"])).json()
    assert second["count"] == 3 and second["next"] is None and second["previous"] is not None
    assert second["results"] == [mine[0]]
    beyond = await client.get(f"/api/feedbacks/?seller={seller.id}&page_size=2&page=3")
    assert (beyond.status_code, beyond.json()) == (404, {"detail": "Invalid page."})

    for nobody in (buyer.id, 2**31, 2**70, -1):
        empty = await client.get(f"/api/feedbacks/?seller={nobody}")
        assert (empty.status_code, empty.json()) == (
            200,
            {"count": 0, "next": None, "previous": None, "results": []},
        )
    blank = await client.get("/api/feedbacks/?seller=")
    assert blank.json()["count"] == 4  # an empty filter is no filter


@pytest.mark.parametrize("bad", ["abc", "1.5", "1e3", "%20x"])
async def test_list_bad_seller_filter_is_a_field_error(client: httpx.AsyncClient, bad: str) -> None:
    response = await client.get(f"/api/feedbacks/?seller={bad}")
    assert (response.status_code, response.json()) == (
        400,
        {"seller": ["A valid integer is required."]},
    )


# --- editing and deleting -------------------------------------------------------------------


async def test_author_edits_and_rating_is_recomputed(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    first = await give_feedback(client, seller, buyer, **ratings(5, 5, 5))
    second = await give_feedback(client, seller, buyer, **ratings(4, 4, 4))
    await assert_rating(client, seller, ("4.50", 2))

    response = await client.patch(
        f"/api/feedbacks/{second['id']}/",
        json={
            "seller_rating": 2,
            "platform_rating": 3,
            "communication_rating": 1,
            "shipping_speed_rating": 5,
            "seller_comment": "Colours faded after one wash.",
            "platform_comment": "",
            "product_as_described": False,
            "order_id": first["order"],  # not editable: ignored
            "buyer": 1,
        },
        headers=buyer.auth,
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert without_times(edited) == {
        **without_times(second),
        "seller_rating": 2,
        "platform_rating": 3,
        "communication_rating": 1,
        "shipping_speed_rating": 5,
        "seller_comment": "Colours faded after one wash.",
        "platform_comment": "",
        "product_as_described": False,
    }
    assert edited["created_at"] == second["created_at"]
    assert edited["updated_at"] != second["updated_at"]
    assert (await client.get(f"/api/feedbacks/{second['id']}/")).json() == edited
    await assert_rating(client, seller, ("3.50", 2))

    # A partial edit leaves everything else alone.
    partial = await client.patch(
        f"/api/feedbacks/{second['id']}", json={"seller_rating": 3}, headers=buyer.auth
    )
    assert partial.status_code == 200
    assert without_times(partial.json()) == {**without_times(edited), "seller_rating": 3}
    await assert_rating(client, seller, ("4.00", 2))


async def test_edit_field_errors(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    created = await give_feedback(client, seller, buyer, **ratings(4, 4, 4))
    url = f"/api/feedbacks/{created['id']}/"
    out_of_range = await client.patch(
        url,
        json={"seller_rating": 0, "shipping_speed_rating": 6, "communication_rating": 5},
        headers=buyer.auth,
    )
    assert (out_of_range.status_code, out_of_range.json()) == (
        400,
        {
            "seller_rating": ["Ensure this value is between 1 and 5."],
            "shipping_speed_rating": ["Ensure this value is between 1 and 5."],
        },
    )
    too_long = await client.patch(url, json={"seller_comment": "x" * 2001}, headers=buyer.auth)
    assert (too_long.status_code, too_long.json()) == (
        400,
        {"seller_comment": ["Ensure this field has no more than 2000 characters."]},
    )
    wrong_type = await client.patch(url, json={"seller_rating": "five"}, headers=buyer.auth)
    assert wrong_type.status_code == 400 and set(wrong_type.json()) == {"seller_rating"}
    row = await Feedback.select().where(Feedback.id == created["id"]).first()
    assert row is not None
    assert (row["seller_rating"], row["communication_rating"], row["seller_comment"]) == (4, 4, "")
    await assert_rating(client, seller, ("4.00", 1))


async def test_only_the_author_may_edit_or_delete(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle, stranger: UserHandle
) -> None:
    created = await give_feedback(client, seller, buyer, **ratings(5, 5, 5))
    url = f"/api/feedbacks/{created['id']}/"
    for intruder in (seller, stranger):
        edit = await client.patch(url, json={"seller_rating": 1}, headers=intruder.auth)
        assert (edit.status_code, edit.json()) == (403, FORBIDDEN)
        bad_edit = await client.patch(url, json={"seller_rating": 9}, headers=intruder.auth)
        assert (bad_edit.status_code, bad_edit.json()) == (403, FORBIDDEN)  # 403 before 400
        remove = await client.delete(url, headers=intruder.auth)
        assert (remove.status_code, remove.json()) == (403, FORBIDDEN)
    for call in (client.patch(url, json={"seller_rating": 1}), client.delete(url)):
        response = await call
        assert (response.status_code, response.json()) == (401, NO_CREDENTIALS)
    assert (await client.get(url)).json() == created
    await assert_rating(client, seller, ("5.00", 1))


async def test_author_deletes_and_rating_is_recomputed(
    client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    first = await give_feedback(client, seller, buyer, **ratings(5, 5, 5))
    second = await give_feedback(client, seller, buyer, **ratings(2, 2, 2))
    await assert_rating(client, seller, ("3.50", 2))

    removed = await client.delete(f"/api/feedbacks/{second['id']}/", headers=buyer.auth)
    assert (removed.status_code, removed.content) == (204, b"")
    gone = await client.get(f"/api/feedbacks/{second['id']}/")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)
    await assert_rating(client, seller, ("5.00", 1))
    again = await client.delete(f"/api/feedbacks/{second['id']}/", headers=buyer.auth)
    assert (again.status_code, again.json()) == (404, NOT_FOUND)

    assert (await client.delete(f"/api/feedbacks/{first['id']}", headers=buyer.auth)).status_code
    await assert_rating(client, seller, ("0.00", 0))
    # The order is open for feedback again once its feedback is gone.
    again_created = await client.post(
        "/api/feedbacks/",
        json={"order_id": second["order"], **ratings(4, 4, 4)},
        headers=buyer.auth,
    )
    assert again_created.status_code == 201
    await assert_rating(client, seller, ("4.00", 1))


async def test_simultaneous_feedback_keeps_the_rating_exact(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle
) -> None:
    """Every recompute sees every committed feedback: no lost update between two writers."""
    buyers = [await make_user(live_server.settings) for _ in range(6)]
    orders = [await shipped_order(seller, b) for b in buyers]
    scores = [5, 4, 3, 5, 2, 4]

    async def post(order_id: int, user: UserHandle, score: int) -> int:
        response = await client.post(
            "/api/feedbacks/",
            json={"order_id": order_id, **ratings(score, 4, 4)},
            headers=user.auth,
        )
        return response.status_code

    codes = await asyncio.gather(
        *(post(*args) for args in zip(orders, buyers, scores, strict=True))
    )
    assert codes == [201] * 6
    await assert_rating(client, seller, ("3.83", 6))

    created = (await client.get(f"/api/feedbacks/?seller={seller.id}")).json()["results"]
    by_author = {f["buyer"]: f["id"] for f in created}

    async def edit(user: UserHandle) -> int:
        response = await client.patch(
            f"/api/feedbacks/{by_author[user.id]}/", json={"seller_rating": 1}, headers=user.auth
        )
        return response.status_code

    assert await asyncio.gather(*(edit(b) for b in buyers[:3])) == [200] * 3
    await assert_rating(client, seller, ("2.33", 6))  # 1, 1, 1, 5, 2, 4


# --- seller_stats ------------------------------------------------------------------------------


async def test_seller_stats(
    live_server: LiveServer, client: httpx.AsyncClient, seller: UserHandle, buyer: UserHandle
) -> None:
    empty = await client.get(f"/api/feedbacks/seller_stats/?seller_id={seller.id}")
    assert (empty.status_code, empty.json()) == (200, EMPTY_STATS)

    await give_feedback(client, seller, buyer, **ratings(5, 5, 2))
    await give_feedback(client, seller, buyer, **ratings(4, 3, 3, product_as_described=False))
    await give_feedback(client, seller, buyer, **ratings(4, 4, 3))
    other = await make_user(live_server.settings, role=Role.seller)
    await give_feedback(client, other, buyer, **ratings(1, 1, 1, product_as_described=False))

    response = await client.get(f"/api/feedbacks/seller_stats/?seller_id={seller.id}")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "total_feedbacks": 3,
        "average_seller_rating": 4.33,
        "average_communication": 4.0,
        "average_shipping": 2.67,
        "product_as_described_percent": 66.7,
    }
    assert isinstance(response.json()["average_communication"], float)
    no_slash = await client.get(f"/api/feedbacks/seller_stats?seller_id={other.id}")
    assert (no_slash.status_code, no_slash.json()) == (
        200,
        {
            "total_feedbacks": 1,
            "average_seller_rating": 1.0,
            "average_communication": 1.0,
            "average_shipping": 1.0,
            "product_as_described_percent": 0.0,
        },
    )
    for nobody in (buyer.id, 2**31, -5):
        none = await client.get(f"/api/feedbacks/seller_stats/?seller_id={nobody}")
        assert (none.status_code, none.json()) == (200, EMPTY_STATS)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("", "This field is required."),
        ("?seller_id=", "This field is required."),
        ("?seller_id=abc", "A valid integer is required."),
        ("?seller_id=4.5", "A valid integer is required."),
    ],
)
async def test_seller_stats_needs_a_numeric_seller_id(
    client: httpx.AsyncClient, query: str, error: str
) -> None:
    response = await client.get(f"/api/feedbacks/seller_stats/{query}")
    assert (response.status_code, response.json()) == (400, {"seller_id": [error]})
