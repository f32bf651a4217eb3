"""The demo data's sales: live auctions (with their bids, decided by the bid rules) and past
sales (ended auctions, orders, feedback and the sellers' ratings)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import uuid4

from madeinpk.auctions.bidding.removal import removal_event
from madeinpk.auctions.bidding.removal_rules import StoredBid, recount
from madeinpk.auctions.bidding.rules import (
    Accepted,
    Attempt,
    AuctionState,
    Bidder,
    RecordedBid,
    decide,
)
from madeinpk.auctions.events import bid_removed_payload, event_payload
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus, Bid
from madeinpk.catalog.tables import Condition, Product, ProductImage
from madeinpk.money import CENT
from madeinpk.orders.feedback import recompute_seller_rating
from madeinpk.orders.tables import Feedback, Order, OrderStatus
from madeinpk.sample_data.data import (
    ADMIN,
    BUYERS,
    FEEDBACK_COMMENTS,
    LIVE_AUCTIONS,
    RGB,
    SCHEDULED_AUCTION,
    SELLERS,
    DemoAuction,
    DemoSeller,
)
from madeinpk.sample_data.images import render_image, sale_palette
from madeinpk.sample_data.run import Run, SeedError, sync_sequence

# --- live auctions -----------------------------------------------------------------------------


async def seed_live_auctions(run: Run) -> None:
    for demo in LIVE_AUCTIONS:
        if await Auction.exists().where(Auction.id == demo.id):
            continue
        if await Product.exists().where(Product.id == demo.id):
            raise SeedError(
                f"product {demo.id} exists without demo auction {demo.id}; "
                "seed an empty database instead"
            )
        await _create_live_auction(demo, run)
        run.mark(True)
    await sync_sequence(Product)
    await sync_sequence(Auction)


async def seed_scheduled_auction(run: Run) -> None:
    """The demo's scheduled listing (``SCHEDULED_AUCTION``), once: found again by its product's
    name. Nothing schedules its start here (seeding may run with no app up): the sweep opens it
    within two seconds of its start time, with ``auction_started`` like any other."""
    demo = SCHEDULED_AUCTION
    if await Product.exists().where(Product.name == demo.name):
        return
    product = Product(seller=run.users[demo.seller], category=demo.category_id, name=demo.name)
    product.description, product.condition = demo.description, demo.condition.value
    product.created_at = product.updated_at = run.now
    product_id = (await Product.insert(product).returning(Product.id))[0]["id"]
    await create_images(product_id, demo.name, demo.views, demo.palette, run)
    start = run.now + demo.starts_in
    await Auction.insert(
        Auction(
            product=product_id,
            starting_price=demo.starting_price,
            current_price=demo.starting_price,
            start_time=start,
            end_time=start + demo.lasts,
            status=AuctionStatus.scheduled.value,
            winner=None,
            created_at=run.now,
            updated_at=run.now,
        )
    )
    run.mark(True)


async def _create_live_auction(demo: DemoAuction, run: Run) -> None:
    """Started a day ago, ending within days, with a few bids from buyers decided one by one by
    the rule core, three hours apart; the leader's latest bid is the winning one."""
    start = run.now - timedelta(days=1)
    await Product.insert(
        Product(
            id=demo.id,
            seller=run.users[demo.seller],
            category=demo.category_id,
            name=demo.name,
            description=demo.description,
            condition=demo.condition.value,
            created_at=start,
            updated_at=start,
        )
    )
    await create_images(demo.id, demo.name, demo.views, demo.palette, run)
    state = AuctionState(
        auction_id=demo.id,
        product_name=demo.name,
        seller_id=run.users[demo.seller],
        status=AuctionStatus.active.value,
        start_time=start,
        end_time=run.now + demo.ends_in,
        starting_price=demo.starting_price,
        current_price=demo.starting_price,
        bid_count=0,
        seq=0,
        leader=None,
        last_bid_time=None,
        min_increment=demo.min_increment,
        soft_close_seconds=demo.soft_close_seconds,
        reserve_price=demo.reserve_price,
        buy_now_price=demo.buy_now_price,
    )
    bids: list[Bid] = []
    events: list[AuctionEvent] = []
    decided: list[tuple[RecordedBid, int]] = []  # every bid, with the demo bid that placed it
    count = len(demo.bids)
    for index, demo_bid in enumerate(demo.bids):
        username = demo_bid.buyer
        bidder = Bidder(run.users[username], username, f"{username}@example.com")
        at = run.now - timedelta(hours=3 * (count - index) + 1)
        decision = decide(state, [Attempt(bidder, demo_bid.amount, demo_bid.max_amount)], at)
        [outcome] = decision.outcomes
        if not isinstance(outcome, Accepted):
            raise SeedError(f"demo bid {demo_bid} on auction {demo.id}: {outcome}")
        state = decision.after
        decided += [(b, index) for b in decision.bids]
        bids += [
            Bid(
                auction=demo.id,
                bidder=b.bidder.id,
                amount=b.amount,
                bid_time=b.time,
                is_auto=b.is_auto,
                seq=b.seq,
                max_amount=b.max_amount,
                raised_max=b.raised_max,
            )
            for b in decision.bids
        ]
        events += [
            AuctionEvent(
                auction=demo.id,
                seq=e.seq,
                payload=event_payload(demo.id, e).decode(),
                created_at=at,
            )
            for e in decision.events
        ]
    if bids:
        bids[-1].is_winning = True
    await Auction.insert(
        Auction(
            id=demo.id,
            product=demo.id,
            starting_price=demo.starting_price,
            current_price=state.current_price,
            bid_count=state.bid_count,
            seq=state.seq,
            leader=state.leader.id if state.leader else None,
            leader_max=state.leader_max,
            last_bid_time=state.last_bid_time,
            min_increment=demo.min_increment,
            reserve_price=demo.reserve_price,
            soft_close_seconds=demo.soft_close_seconds,
            buy_now_price=demo.buy_now_price,
            bought_now=False,
            start_time=start,
            end_time=state.end_time,
            status=AuctionStatus.active.value,
            winner=None,
            created_at=start,
            updated_at=run.now,
        )
    )
    if bids:
        stored = await Bid.insert(*bids).returning(Bid.id, Bid.seq)
        await AuctionEvent.insert(*events)
        if demo.removed_bid is not None:
            target = next(b for b in decided if b[1] == demo.removed_bid)
            ids = {row["seq"]: row["id"] for row in stored}
            await _remove_demo_bid(state, decided, ids, target[0].seq, run)


async def _remove_demo_bid(
    state: AuctionState,
    decided: list[tuple[RecordedBid, int]],
    ids: dict[int, int],
    target_seq: int,
    run: Run,
) -> None:
    """Staff (the demo admin) removed a bid an hour ago, as ``POST /api/bids/{id}/remove/``
    does: recounted by the rule core, flagged, and a ``bid_removed`` event."""
    at = run.now - timedelta(hours=1)
    admin = run.users[ADMIN.username]
    stored = [
        StoredBid(ids[b.seq], b.bidder, b.amount, b.time, b.seq, b.is_auto, b.max_amount)
        for b, _ in decided
    ]
    target = next(b for b in stored if b.seq == target_seq)
    result = recount(state, stored, target.id)
    after = replace(result.state, seq=state.seq + 1)
    for bid_id in result.removed:
        await Bid.update(
            {
                Bid.removed_at: at,
                Bid.removed_by: admin,
                Bid.removed_with: None if bid_id == target.id else target.id,
                Bid.is_winning: False,
            }
        ).where(Bid.id == bid_id)
    await Bid.update({Bid.is_winning: True}).where(Bid.id == result.winning)
    await Auction.update(
        {
            Auction.current_price: after.current_price,
            Auction.bid_count: after.bid_count,
            Auction.seq: after.seq,
            Auction.leader: after.leader.id if after.leader else None,
            Auction.leader_max: after.leader_max,
        }
    ).where(Auction.id == state.auction_id)
    payload = bid_removed_payload(removal_event(after, stored, result, target))
    await AuctionEvent.insert(
        AuctionEvent(
            auction=state.auction_id, seq=after.seq, payload=payload.decode(), created_at=at
        )
    )


async def create_images(
    product_id: int,
    name: str,
    views: tuple[str, ...],
    palette: tuple[RGB, RGB],
    run: Run,
    pattern: int = 0,
) -> None:
    folder = run.settings.media_root / "products"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    rows = []
    for index, view in enumerate(views):
        path = folder / f"{uuid4().hex}.jpg"
        run.written.append(path)
        await asyncio.to_thread(render_image, path, name, view, palette, pattern + index)
        rows.append(
            ProductImage(
                product=product_id,
                image=f"products/{path.name}",
                is_primary=index == 0,
                display_order=index,
            )
        )
    await ProductImage.insert(*rows)


# --- past sales and ratings --------------------------------------------------------------------


async def seed_past_sales(run: Run) -> None:
    for seller in SELLERS:
        for index, sale in enumerate(seller.sales):
            number = _order_number(seller.account.username, index)
            order = await Order.select(Order.product).where(Order.order_number == number).first()
            if order is None:
                await _create_past_sale(seller, index, number, run)
                run.mark(True)
            elif not await ProductImage.exists().where(ProductImage.product == order["product"]):
                # Seeded before past sales had pictures: add them, or they show as blank cards.
                await create_images(
                    order["product"], sale.name, SALE_VIEWS, sale_palette(sale), run, index
                )
                run.mark(True)
        # The profile's rating is the mean of every feedback row, as the feedback API keeps it.
        await recompute_seller_rating(run.users[seller.account.username])


SALE_VIEWS = ("As sold",)


def _order_number(seller: str, index: int) -> str:
    """Derived from the sale, not random, so it is the sale's natural key for re-runs."""
    digest = hashlib.sha256(f"madeinpk-demo-sale/{seller}/{index}".encode()).hexdigest()
    return f"AUC-{digest[:12].upper()}"


async def _create_past_sale(seller: DemoSeller, index: int, order_number: str, run: Run) -> None:
    """A finished auction, its delivered order and the buyer's feedback, as the real flow ends.

    Sales are spaced nine days apart going back from ten days ago; buyers take turns winning.
    """
    sale = seller.sales[index]
    seller_id = run.users[seller.account.username]
    winner_id = run.users[BUYERS[index % len(BUYERS)].username]
    runner_up_id = run.users[BUYERS[(index + 1) % len(BUYERS)].username]
    end = run.now - timedelta(days=10 + 9 * index, hours=3 * index)
    start = end - timedelta(days=5)
    price = sale.price.quantize(CENT)
    product_rows = await Product.insert(
        Product(
            seller=seller_id,
            category=sale.category_id,
            name=sale.name,
            description=sale.description,
            condition=Condition.new.value,
            created_at=start - timedelta(hours=2),
            updated_at=start - timedelta(hours=2),
        )
    ).returning(Product.id)
    product_id = product_rows[0]["id"]
    await create_images(product_id, sale.name, SALE_VIEWS, sale_palette(sale), run, index)
    auction_rows = await Auction.insert(
        Auction(
            product=product_id,
            starting_price=(price * Decimal("0.8")).quantize(CENT),
            current_price=price,
            bid_count=2,
            start_time=start,
            end_time=end,
            status=AuctionStatus.completed.value,
            winner=winner_id,
            created_at=start,
            updated_at=end + timedelta(hours=6),
        )
    ).returning(Auction.id)
    auction_id = auction_rows[0]["id"]
    await Bid.insert(
        Bid(
            auction=auction_id,
            bidder=runner_up_id,
            amount=(price * Decimal("0.9")).quantize(CENT),
            bid_time=end - timedelta(days=2),
            is_winning=False,
        ),
        Bid(
            auction=auction_id,
            bidder=winner_id,
            amount=price,
            bid_time=end - timedelta(hours=5),
            is_winning=True,
        ),
    )
    fee = (price * run.settings.platform_fee).quantize(CENT, rounding=ROUND_HALF_UP)
    delivered_at = end + timedelta(days=4)
    order_rows = await Order.insert(
        Order(
            order_number=order_number,
            buyer=winner_id,
            seller=seller_id,
            product=product_id,
            auction=auction_id,
            order_type="auction",
            quantity=1,
            unit_price=price,
            total_amount=price,
            platform_fee=fee,
            seller_amount=price - fee,
            shipping_address=None,
            status=OrderStatus.delivered.value,
            payment_deadline=end + timedelta(hours=run.settings.payment_deadline_hours),
            created_at=end,
            paid_at=end + timedelta(hours=6),
            shipped_at=end + timedelta(days=1),
            delivered_at=delivered_at,
        )
    ).returning(Order.id)
    rating = sale.seller_rating
    await Feedback.insert(
        Feedback(
            order=order_rows[0]["id"],
            buyer=winner_id,
            seller=seller_id,
            seller_rating=rating,
            platform_rating=5 if index % 3 else 4,
            communication_rating=rating,
            shipping_speed_rating=max(3, rating - index % 2),
            seller_comment=FEEDBACK_COMMENTS[rating],
            platform_comment="Smooth bidding and checkout." if index % 2 else "",
            product_as_described=rating >= 4,
            created_at=delivered_at + timedelta(days=1),
            updated_at=delivered_at + timedelta(days=1),
        )
    )
