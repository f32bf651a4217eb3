"""The demo data's second-chance offer and relisted auction (docs/auction-rules.md §
Second-chance offer, § Relist): a won auction whose winner missed the payment deadline, with a
pending offer to the runner-up (buyer1, so the demo key sees it); and an auction that ended
without a bid, relisted by its seller and running now."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

from madeinpk.auctions.tables import Auction, AuctionStatus, Bid
from madeinpk.catalog.tables import Condition, Product, ProductImage
from madeinpk.notifications.tables import Notification, NotificationType
from madeinpk.orders.tables import Offer, OfferStatus, Order, OrderStatus
from madeinpk.sample_data.data import BUYERS, RGB, SELLERS
from madeinpk.sample_data.run import Run
from madeinpk.sample_data.sales import create_images

MISSED_NAME = "Hand-Embroidered Sindhi Ajrak"
RELISTED_NAME = "Carved Walnut Jewellery Box"


def _number(key: str) -> str:
    return "AUC-" + hashlib.sha256(f"madeinpk-demo/{key}".encode()).hexdigest()[:12].upper()


def _palette(name: str) -> tuple[RGB, RGB]:
    digest = hashlib.sha256(name.encode()).digest()
    return (digest[0] % 120, digest[1] % 120, digest[2] % 120), (
        135 + digest[3] % 120,
        135 + digest[4] % 120,
        135 + digest[5] % 120,
    )


async def _product(run: Run, seller: str, name: str, description: str, days_ago: int) -> int:
    created = run.now - timedelta(days=days_ago)
    rows = await Product.insert(
        Product(
            seller=run.users[seller],
            category=1,
            name=name,
            description=description,
            condition=Condition.new.value,
            created_at=created,
            updated_at=created,
        )
    ).returning(Product.id)
    product_id = int(rows[0]["id"])
    await create_images(product_id, name, ("As listed",), _palette(name), run)
    return product_id


async def _has_pictures(run: Run, name: str) -> bool:
    """Whether the demo product ``name`` exists; given its pictures back if they went missing
    (as ``sales.seed_past_sales`` does)."""
    product = await Product.select(Product.id).where(Product.name == name).first()
    if product is None:
        return False
    if not await ProductImage.exists().where(ProductImage.product == product["id"]):
        await create_images(product["id"], name, ("As listed",), _palette(name), run)
        run.mark(True)
    return True


async def seed_second_chance_offer(run: Run) -> None:
    if await _has_pictures(run, MISSED_NAME):
        return
    seller = SELLERS[0].account.username
    winner, runner_up = run.users[BUYERS[2].username], run.users[BUYERS[0].username]
    product_id = await _product(
        run, seller, MISSED_NAME, "Block-printed ajrak, embroidered by hand in Hala.", 6
    )
    end = run.now - timedelta(days=3)
    start = end - timedelta(days=2)
    auction = await Auction.insert(
        Auction(
            product=product_id,
            starting_price=Decimal("3000.00"),
            current_price=Decimal("4200.00"),
            bid_count=2,
            seq=3,
            start_time=start,
            end_time=end,
            status=AuctionStatus.cancelled.value,  # what a missed payment leaves
            winner=winner,
            created_at=start,
            updated_at=end + timedelta(hours=run.settings.payment_deadline_hours),
        )
    ).returning(Auction.id)
    auction_id = auction[0]["id"]
    await Bid.insert(
        Bid(
            auction=auction_id,
            bidder=runner_up,
            amount=Decimal("3800.00"),
            bid_time=end - timedelta(hours=6),
            seq=1,
        ),
        Bid(
            auction=auction_id,
            bidder=winner,
            amount=Decimal("4200.00"),
            bid_time=end - timedelta(hours=2),
            is_winning=True,
            seq=2,
        ),
    )
    price = Decimal("4200.00")
    fee = (price * run.settings.platform_fee).quantize(Decimal("0.01"))
    deadline = end + timedelta(hours=run.settings.payment_deadline_hours)
    order = await Order.insert(
        Order(
            order_number=_number("missed-order"),
            buyer=winner,
            seller=run.users[seller],
            product=product_id,
            auction=auction_id,
            unit_price=price,
            total_amount=price,
            platform_fee=fee,
            seller_amount=price - fee,
            status=OrderStatus.payment_failed.value,
            payment_deadline=deadline,
            created_at=end,
        )
    ).returning(Order.id)
    offered_at = run.now - timedelta(hours=2)
    await Offer.insert(
        Offer(
            order=order[0]["id"],
            auction=auction_id,
            bidder=runner_up,
            seller=run.users[seller],
            amount=Decimal("3800.00"),
            status=OfferStatus.pending.value,
            expires_at=offered_at + timedelta(hours=run.settings.payment_deadline_hours),
            created_at=offered_at,
        )
    )
    await Notification.insert(
        Notification(
            user=runner_up,
            notification_type=NotificationType.second_chance_offer.value,
            title="A second chance to buy",
            message=(
                f"The seller offers you {MISSED_NAME} at your highest bid of Rs. 3800.00. "
                "Accept or decline it under Offers."
            ),
            auction=auction_id,
            order=order[0]["id"],
            created_at=offered_at,
        )
    )
    run.mark(True)


async def seed_relisted_auction(run: Run) -> None:
    if await _has_pictures(run, RELISTED_NAME):
        return
    seller = SELLERS[2].account.username
    product_id = await _product(
        run, seller, RELISTED_NAME, "Walnut wood from Swat, carved and lined with velvet.", 9
    )
    first_end = run.now - timedelta(days=1)
    first_start = first_end - timedelta(days=5)
    first = await Auction.insert(
        Auction(
            product=product_id,
            starting_price=Decimal("6500.00"),
            current_price=Decimal("6500.00"),
            seq=1,
            start_time=first_start,
            end_time=first_end,
            status=AuctionStatus.ended.value,  # no bids: unsold
            created_at=first_start,
            updated_at=first_end,
        )
    ).returning(Auction.id)
    await Auction.insert(
        Auction(
            product=product_id,
            starting_price=Decimal("6500.00"),
            current_price=Decimal("6500.00"),
            start_time=run.now - timedelta(hours=12),
            end_time=run.now + timedelta(days=4, hours=12),
            status=AuctionStatus.active.value,
            created_at=run.now - timedelta(hours=12),
            updated_at=run.now - timedelta(hours=12),
            auto_relist=1,
            relisted_from=first[0]["id"],
        )
    )
    run.mark(True)
