"""Demo data: the real ``madeinpk seed`` command, twice, leaves one copy of everything."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
from PIL import Image

from madeinpk.accounts.tables import SellerProfile
from madeinpk.auctions.tables import Auction, AuctionEvent, Bid
from madeinpk.catalog.tables import Product, ProductImage
from madeinpk.db.database import ALL_TABLES
from madeinpk.money import to_money
from madeinpk.orders.tables import Feedback
from madeinpk.sample_data.data import SCHEDULED_AUCTION
from tests.integration.conftest import LiveServer

CATEGORY_NAMES = [
    "Textiles", "Handicrafts", "Pottery", "Jewelry", "Home Decor", "Carpets",
    "Leather Goods", "Woodwork", "Metalwork", "Paintings & Art", "Footwear", "Accessories",
]  # fmt: skip
SAMPLE_AUCTIONS = {
    1: ("Handwoven Pashmina Shawl", "2500.00"),
    2: ("Silk Bedspread Set", "8500.00"),
    3: ("Wooden Jewelry Box", "1800.00"),
    4: ("Ceramic Dinner Set", "4200.00"),
    5: ("Gold-Plated Earrings Set", "1200.00"),
    6: ("Kashmiri Silk Carpet", "25000.00"),
}


def run_seed(test_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madeinpk", "seed"],
        env={**os.environ, **test_env},
        capture_output=True,
        text=True,
        timeout=180,
    )


async def row_counts() -> dict[str, int]:
    return {t._meta.tablename: await t.count() for t in ALL_TABLES}


async def test_seed_shows_everything_and_twice_leaves_one_copy(
    live_server: LiveServer, test_env: dict[str, str], client: httpx.AsyncClient
) -> None:
    """One seed, everything checked on it, then a second seed: seeding takes seconds, so the
    checks share one run rather than each seeding its own."""
    first = run_seed(test_env)
    assert first.returncode == 0, first.stderr
    assert "Sample data created." in first.stdout
    assert "buyer1" in first.stdout and "Ready buyer1 token:" in first.stdout
    await seeded_auctions_match_the_protocol_document(Path(test_env["MEDIA_ROOT"]))
    await seeded_auctions_show_every_feature(client, first.stdout)
    await seller_ratings_come_from_feedback()
    counts = await row_counts()
    second = run_seed(test_env)
    assert second.returncode == 0, second.stderr
    assert "already present; nothing added" in second.stdout
    again = await row_counts()
    assert again.pop("auth_token") == counts.pop("auth_token") + 1  # a fresh demo key each run
    assert again == counts

    # A database seeded before past sales had pictures gets them on the next seed.
    past = [
        p["id"]
        for p in await Product.select(Product.id).where(
            (Product.id > 6) & (Product.name != SCHEDULED_AUCTION.name)  # a listing, not a sale
        )
    ]
    assert past
    await ProductImage.delete().where(ProductImage.product.is_in(past))
    third = run_seed(test_env)
    assert third.returncode == 0, third.stderr
    for product_id in past:
        assert await ProductImage.count().where(ProductImage.product == product_id) == 1

    # The printed key works.
    token = second.stdout.split("Ready buyer1 token: ")[1].split()[0]
    me = await client.get("/api/auth/profile/", headers={"Authorization": f"Token {token}"})
    assert me.json()["username"] == "buyer1"

    # Watchlists: the carpet is watched by every buyer; buyer1's newest watch first.
    carpet = (await client.get("/api/auctions/6/")).json()
    assert (carpet["watch_count"], carpet["is_watching"]) == (3, False)
    mine = await client.get("/api/watchlist/", headers={"Authorization": f"Token {token}"})
    assert [a["id"] for a in mine.json()["results"]] == [4, 6]
    assert all(a["is_watching"] for a in mine.json()["results"])

    # The twelve categories, with the ids the React client hard-codes.
    categories = (await client.get("/api/categories/")).json()
    roots = [(c["id"], c["name"]) for c in categories["results"]]
    assert roots == list(enumerate(CATEGORY_NAMES, start=1))
    assert categories["count"] == 12


async def seeded_auctions_match_the_protocol_document(media_root: Path) -> None:
    for auction_id, (name, starting_price) in SAMPLE_AUCTIONS.items():
        auction = (
            await Auction.select(
                *Auction.all_columns(), Auction.product.name, Auction.product.seller
            )
            .where(Auction.id == auction_id)
            .first()
        )
        assert auction is not None
        assert auction["product.name"] == name
        assert f"{to_money(auction['starting_price']):.2f}" == starting_price
        assert auction["status"] == "active"
        assert auction["start_time"] < live_server_now() < auction["end_time"]
        every = await Bid.select().where(Bid.auction == auction_id).order_by(Bid.seq)
        assert every, "every sample auction has bids"
        # Decided by the rule core: event numbers, leader and stored events agree.
        assert (
            [b["seq"] for b in every]
            == list(range(1, len(every) + 1))
            == sorted(b["seq"] for b in every)
        )
        # One sample bid was removed by staff (docs/auction-rules.md § 10): flagged, one event.
        bids = [b for b in every if b["removed_at"] is None]
        removals = len(every) - len(bids)
        assert removals == (1 if auction_id == 3 else 0)
        assert auction["seq"] == len(every) + removals and auction["bid_count"] == len(bids)
        events = await AuctionEvent.count().where(AuctionEvent.auction == auction_id)
        assert events == auction["seq"]
        assert auction["leader"] == bids[-1]["bidder"]
        assert to_money(auction["leader_max"]) >= to_money(auction["current_price"])
        assert all(b["bidder"] != auction["product.seller"] for b in bids)
        amounts = [to_money(b["amount"]) for b in bids]
        assert amounts == sorted(amounts) and amounts[0] >= to_money(auction["starting_price"])
        assert [b["is_winning"] for b in bids] == [False] * (len(bids) - 1) + [True]
        assert to_money(auction["current_price"]) == amounts[-1]
        images = (
            await ProductImage.select()
            .where(ProductImage.product == auction["product"])
            .order_by(ProductImage.display_order)
        )
        assert len(images) >= 2 and images[0]["is_primary"]
        for image in images:
            with Image.open(media_root / image["image"]) as picture:
                assert picture.format == "JPEG"
    assert await Product.count() > 6  # past sales behind the ratings
    # One listing opens a few minutes after seeding: scheduled until then, without bids.
    scheduled = await Auction.select().where(Auction.status == "scheduled")
    assert len(scheduled) == 1 and scheduled[0]["bid_count"] == 0
    waits = (scheduled[0]["start_time"] - live_server_now()).total_seconds()
    assert 60 < waits <= 600
    # Every product has pictures: live auctions and past sales alike.
    for product in await Product.select(Product.id):
        images = await ProductImage.select().where(ProductImage.product == product["id"])
        assert images, product
        for image in images:
            with Image.open(media_root / image["image"]) as picture:
                assert picture.format == "JPEG"


async def seeded_auctions_show_every_feature(client: httpx.AsyncClient, printed: str) -> None:
    """A new user sees increments, a proxy bid, soft close and a reserve without doing anything."""
    token = printed.split("Ready buyer1 token: ")[1].split()[0]
    buyer1 = {"Authorization": f"Token {token}"}
    bodies = {
        a: (await client.get(f"/api/auctions/{a}/", headers=buyer1)).json() for a in SAMPLE_AUCTIONS
    }
    options = {
        a: (b["min_increment"], b["soft_close_seconds"], b["reserve_met"])
        for a, b in bodies.items()
    }
    assert options == {
        1: ("125.00", 0, None),
        2: ("0.01", 120, None),
        3: ("50.00", 0, None),
        4: ("0.01", 0, None),
        5: ("0.01", 300, None),
        6: ("0.01", 0, False),  # the carpet's reserve is not met yet
    }
    # The shawl: buyer1's proxy answered buyer2 at once, and buyer1 (the demo login) sees its
    # own maximum; nobody else does.
    shawl = bodies[1]
    assert [(b["bidder_username"], b["amount"], b["is_auto"]) for b in shawl["latest_bids"]] == [
        ("buyer1", "3000.00", True),
        ("buyer2", "2875.00", False),
        ("buyer1", "2750.00", False),
        ("buyer3", "2625.00", False),
    ]
    assert (shawl["current_price"], shawl["min_next_bid"], shawl["my_max_bid"]) == (
        "3000.00",
        "3125.00",
        "3250.00",
    )
    assert (await client.get("/api/auctions/1/")).json()["my_max_bid"] is None
    assert all(b["reserve_price"] is None for b in bodies.values())  # buyer1 sells nothing
    # Buy It Now: the carpet offers it (its reserve is not met, so it is still open).
    buy_now = {a: (b["buy_now_price"], b["buy_now_open"]) for a, b in bodies.items()}
    assert buy_now == {a: (None, False) for a in range(1, 6)} | {6: ("45000.00", True)}


async def seller_ratings_come_from_feedback() -> None:
    for profile in await SellerProfile.select():
        ratings = [
            f["seller_rating"]
            for f in await Feedback.select().where(Feedback.seller == profile["user"])
        ]
        assert ratings, "every demo seller has feedback"
        assert profile["total_feedbacks"] == len(ratings)
        expected = (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"))
        assert to_money(profile["average_rating"]) == expected


def live_server_now():  # type: ignore[no-untyped-def]
    from madeinpk.timestamps import utc_now

    return utc_now()
