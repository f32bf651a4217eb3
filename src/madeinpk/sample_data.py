"""Demo data for a fresh installation: the catalogue ids the client hard-codes, Pakistan's places,
demo accounts, the six live auctions the protocol documents, and past sales whose feedback
gives each seller a real rating.

The live auctions show every auction feature on a fresh ``just serve``: a minimum increment, a
proxy bid (with its automatic answer), a soft close and a reserve price. Their bids are decided
by the real rule core (``auctions.rules``), so leader, standing maximum, event numbers and the
stored events are what the bid path would have left.

Every row is found or created by a natural key, so seeding twice leaves one copy of everything;
only explicit ids the client relies on (categories 1 to 12, products and auctions 1 to 6) are fixed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from uuid import uuid4

from piccolo.apps.user.tables import BaseUser
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table
from PIL import Image, ImageChops, ImageDraw, ImageFont

from madeinpk.accounts.tables import City, Province, Role, SellerProfile, UserProfile
from madeinpk.accounts.tokens import issue_token
from madeinpk.auctions.events import event_payload
from madeinpk.auctions.rules import Accepted, Attempt, AuctionState, Bidder, decide
from madeinpk.auctions.tables import Auction, AuctionEvent, AuctionStatus, Bid
from madeinpk.catalog.tables import Category, Condition, Product, ProductImage
from madeinpk.database import write_transaction
from madeinpk.orders.tables import Feedback, Order, OrderStatus
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

DEMO_PASSWORD = "madeinpk123"
CENT = Decimal("0.01")
IMAGE_SIZE = (640, 480)

RGB = tuple[int, int, int]


class SeedError(RuntimeError):
    """The database holds rows that clash with the demo data's fixed ids."""


@dataclass
class SeedReport:
    created: bool  # False when everything already existed
    accounts: list[tuple[str, str, str]]  # (username, email, password) of demo accounts
    buyer_token: str | None  # a fresh login key for buyer1 (plain key, shown once)


# --- what to seed ------------------------------------------------------------------------------

# (id, name, description): ids 1 to 8 are hard-coded in the client, so order and ids are fixed.
CATEGORIES: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "Textiles",
        "Handwoven fabrics, shawls, bedding and embroidered cloth from Pakistan.",
    ),
    (2, "Handicrafts", "Handmade decorative and everyday pieces from artisans across Pakistan."),
    (3, "Pottery", "Blue pottery, glazed ceramics and terracotta from Multan, Hala and beyond."),
    (4, "Jewelry", "Kundan, silver, gold-plated and gemstone jewellery, traditional and modern."),
    (5, "Home Decor", "Lamps, mirrors, cushions and ornaments that bring Pakistani craft home."),
    (6, "Carpets", "Hand-knotted carpets, rugs and namdas in wool and silk."),
    (7, "Leather Goods", "Bags, wallets, belts and accessories in hand-finished leather."),
    (8, "Woodwork", "Carved and inlaid furniture, boxes and ornaments from Chiniot and Swat."),
    (9, "Metalwork", "Brass, copper and silver ware hammered and engraved by hand."),
    (10, "Paintings & Art", "Original paintings, calligraphy and truck art by Pakistani artists."),
    (11, "Footwear", "Hand-stitched khussas, Peshawari chappals and other traditional footwear."),
    (12, "Accessories", "Scarves, caps, bags and small accessories with a handmade touch."),
)

# (name, parent id, description); these take automatic ids after the fixed ones.
SUBCATEGORIES: tuple[tuple[str, int, str], ...] = (
    ("Shawls", 1, "Pashmina, sozni and tilla shawls woven and embroidered by hand."),
    ("Blue Pottery", 3, "Multan's cobalt-and-turquoise glazed pottery."),
    ("Khussas", 11, "Embroidered leather khussas from Punjab."),
)

PROVINCES: dict[str, tuple[str, ...]] = {
    "Punjab": ("Lahore", "Faisalabad", "Rawalpindi", "Multan", "Gujranwala", "Sialkot"),
    "Sindh": ("Karachi", "Hyderabad", "Sukkur", "Larkana", "Mirpur Khas"),
    "Khyber Pakhtunkhwa": ("Peshawar", "Mardan", "Abbottabad", "Mingora", "Dera Ismail Khan"),
    "Balochistan": ("Quetta", "Gwadar", "Turbat", "Khuzdar", "Sibi"),
    "Gilgit-Baltistan": ("Gilgit", "Skardu", "Chilas", "Karimabad"),
    "Azad Jammu and Kashmir": ("Muzaffarabad", "Mirpur", "Rawalakot", "Kotli"),
    "Islamabad Capital Territory": ("Islamabad", "Bhara Kahu", "Tarnol", "Sihala"),
}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    first_name: str
    last_name: str
    role: Role
    phone_number: str = ""

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


@dataclass(frozen=True, slots=True)
class PastSale:
    name: str
    category_id: int
    price: Decimal
    seller_rating: int
    description: str


@dataclass(frozen=True, slots=True)
class DemoSeller:
    account: DemoAccount
    brand_name: str
    biography: str
    business_phone: str
    website: str
    social_media_links: dict[str, str]
    is_verified: bool
    sales: tuple[PastSale, ...]


@dataclass(frozen=True, slots=True)
class DemoAuction:
    id: int
    name: str
    category_id: int
    seller: str
    description: str
    condition: Condition
    starting_price: Decimal
    ends_in: timedelta
    bids: tuple[DemoBid, ...]  # in bidding order
    palette: tuple[RGB, RGB]
    views: tuple[str, ...]  # one generated image per view; the first is primary
    min_increment: Decimal | None = None
    reserve_price: Decimal | None = None
    soft_close_seconds: int = 0


@dataclass(frozen=True, slots=True)
class DemoBid:
    buyer: str  # username
    amount: Decimal
    max_amount: Decimal | None = None  # a proxy bid's secret ceiling


def _sale(name: str, category_id: int, price: str, rating: int, description: str) -> PastSale:
    return PastSale(name, category_id, Decimal(price), rating, description)


SELLERS: tuple[DemoSeller, ...] = (
    DemoSeller(
        account=DemoAccount("kashmiri_crafts", "Farooq", "Mir", Role.seller, "+923005551201"),
        brand_name="Kashmiri Heritage Crafts",
        biography=(
            "We specialize in authentic Kashmiri handicrafts, bringing you the finest traditional "
            "products directly from local artisans."
        ),
        business_phone="+92582244110",
        website="https://kashmiriheritage.example.com",
        social_media_links={"instagram": "https://instagram.com/kashmiri_heritage_crafts"},
        is_verified=True,
        sales=(
            _sale("Embroidered Sozni Shawl", 1, "3200", 5, "Fine needle sozni work on wool."),
            _sale("Papier-Mache Trinket Box", 2, "1500", 5, "Hand-painted papier-mache box."),
            _sale("Crewel Cushion Covers", 5, "2200", 4, "Pair of chain-stitch crewel covers."),
            _sale("Pure Pashmina Stole", 1, "2800", 5, "Lightweight stole in natural pashmina."),
            _sale("Walnut Wood Serving Tray", 8, "2600", 5, "Carved walnut tray, brass handles."),
            _sale("Kani Weave Scarf", 12, "1900", 5, "Kani-woven scarf in a paisley pattern."),
            _sale("Chain-Stitch Wall Hanging", 5, "3500", 4, "Floral aari wall hanging."),
            _sale("Namda Felt Rug", 6, "6800", 5, "Felted wool namda with woollen embroidery."),
            _sale("Embroidered Pheran", 1, "4100", 5, "Winter pheran with tilla neckline."),
            _sale("Silk Tilla Shawl", 1, "5200", 5, "Silk shawl with zari tilla borders."),
            _sale("Engraved Copper Samovar", 9, "7400", 5, "Hand-engraved copper samovar."),
            _sale("Hand-Knotted Prayer Rug", 6, "9800", 4, "Wool-and-silk prayer rug."),
        ),
    ),
    DemoSeller(
        account=DemoAccount("multani_pottery", "Ayesha", "Qureshi", Role.seller, "+923215551302"),
        brand_name="Multani Blue Pottery House",
        biography=(
            "Three generations of Multani potters glazing cobalt and turquoise designs by hand, "
            "from tableware to lamps."
        ),
        business_phone="+92614511220",
        website="https://multanibluepottery.example.com",
        social_media_links={"facebook": "https://facebook.com/multanibluepottery"},
        is_verified=True,
        sales=(
            _sale("Blue Pottery Vase", 3, "1800", 5, "Tall cobalt vase with floral motifs."),
            _sale("Blue Pottery Table Lamp", 5, "3400", 4, "Glazed lamp base with linen shade."),
            _sale("Hand-Painted Plates, Set of 4", 3, "2200", 5, "Four painted dinner plates."),
            _sale("Camel Skin Lamp", 5, "2900", 5, "Naqashi-painted camel skin lamp."),
            _sale("Blue Pottery Tea Set", 3, "3100", 4, "Teapot, six cups and a tray."),
            _sale("Terracotta Planter", 3, "900", 3, "Unglazed terracotta planter."),
            _sale("Glazed Serving Bowl", 3, "1200", 5, "Deep serving bowl in turquoise glaze."),
            _sale("Kashi Tile Wall Plate", 5, "1600", 5, "Decorative kashi-kari wall plate."),
        ),
    ),
    DemoSeller(
        account=DemoAccount("lahore_artisans", "Usman", "Chaudhry", Role.seller, "+923335551403"),
        brand_name="Anarkali Artisan Collective",
        biography=(
            "A Lahore collective of woodcarvers from Chiniot and jewellers from the old city, "
            "selling heirloom-quality pieces at workshop prices."
        ),
        business_phone="+92427351144",
        website="",
        social_media_links={},
        is_verified=False,
        sales=(
            _sale("Chiniot Carved Side Table", 8, "12500", 4, "Sheesham side table, hand carved."),
            _sale("Kundan Necklace Set", 4, "6500", 5, "Kundan necklace with matching earrings."),
            _sale("Brass Inlay Jewelry Box", 8, "2400", 4, "Rosewood box with brass inlay."),
            _sale("Hand-Stitched Khussa", 11, "1600", 4, "Embroidered leather khussa, size 8."),
            _sale("Truck Art Kettle", 10, "1400", 5, "Steel kettle painted in truck-art style."),
            _sale("Silver Jhumka Earrings", 4, "2100", 3, "Oxidised silver jhumkas."),
        ),
    ),
)

BUYERS: tuple[DemoAccount, ...] = (
    DemoAccount("buyer1", "Ali", "Raza", Role.buyer, "+923005550001"),
    DemoAccount("buyer2", "Sana", "Malik", Role.buyer, "+923005550002"),
    DemoAccount("buyer3", "Hamza", "Khan", Role.buyer, "+923005550003"),
)

ADMIN = DemoAccount("admin", "Admin", "MadeInPK", Role.admin)

ACCOUNTS: tuple[DemoAccount, ...] = (*(s.account for s in SELLERS), *BUYERS, ADMIN)


def _bids(*bids: tuple[str, str] | tuple[str, str, str]) -> tuple[DemoBid, ...]:
    """(buyer, amount) or (buyer, amount, maximum) in bidding order."""
    return tuple(
        DemoBid(bid[0], Decimal(bid[1]), Decimal(bid[2]) if len(bid) == 3 else None) for bid in bids
    )


# The ids, names and starting prices are documented in the WebSocket protocol: keep them.
LIVE_AUCTIONS: tuple[DemoAuction, ...] = (
    DemoAuction(
        id=1,
        name="Handwoven Pashmina Shawl",
        category_id=1,
        seller="kashmiri_crafts",
        description=(
            "Luxurious handwoven Pashmina shawl made from the finest Kashmiri wool. Features "
            "intricate embroidery and traditional patterns. Perfect for special occasions or as a "
            "statement piece."
        ),
        condition=Condition.new,
        starting_price=Decimal("2500.00"),
        ends_in=timedelta(days=2, hours=6),
        # buyer1 bids with a maximum; its proxy answers buyer2 at once (an automatic bid).
        bids=_bids(("buyer3", "2625.00"), ("buyer1", "2750.00", "3250.00"), ("buyer2", "2875.00")),
        palette=((120, 20, 40), (230, 170, 90)),
        views=("Front view", "Embroidery detail", "Border detail"),
        min_increment=Decimal("125.00"),
    ),
    DemoAuction(
        id=2,
        name="Silk Bedspread Set",
        category_id=1,
        seller="kashmiri_crafts",
        description=(
            "King-size bedspread in pure Kashmiri silk with two matching pillow covers, "
            "hand-embroidered with chinar leaves in gold and ivory thread."
        ),
        condition=Condition.new,
        starting_price=Decimal("8500.00"),
        ends_in=timedelta(days=3),
        bids=_bids(("buyer1", "8750.00"), ("buyer3", "9200.00")),
        palette=((30, 40, 110), (210, 180, 120)),
        views=("Full set", "Pillow cover detail"),
        soft_close_seconds=120,
    ),
    DemoAuction(
        id=3,
        name="Wooden Jewelry Box",
        category_id=8,
        seller="lahore_artisans",
        description=(
            "Sheesham wood jewellery box carved by Chiniot craftsmen, lined with velvet, with a "
            "mirror in the lid and a removable tray for rings and earrings."
        ),
        condition=Condition.new,
        starting_price=Decimal("1800.00"),
        ends_in=timedelta(days=1, hours=4),
        bids=_bids(
            ("buyer2", "1850.00"),
            ("buyer1", "2000.00"),
            ("buyer2", "2150.00"),
            ("buyer3", "2300.00"),
        ),
        palette=((70, 40, 20), (190, 140, 80)),
        views=("Closed box", "Carving detail", "Inside the lid"),
        min_increment=Decimal("50.00"),
    ),
    DemoAuction(
        id=4,
        name="Ceramic Dinner Set",
        category_id=3,
        seller="multani_pottery",
        description=(
            "Twenty-four piece dinner set in Multani blue pottery: six dinner plates, six side "
            "plates, six bowls, a serving dish and lidded tureen, each glazed and painted by hand."
        ),
        condition=Condition.new,
        starting_price=Decimal("4200.00"),
        ends_in=timedelta(days=4),
        bids=_bids(("buyer1", "4300.00"), ("buyer2", "4500.00")),
        palette=((20, 70, 160), (90, 200, 210)),
        views=("Table setting", "Plate pattern"),
    ),
    DemoAuction(
        id=5,
        name="Gold-Plated Earrings Set",
        category_id=4,
        seller="lahore_artisans",
        description=(
            "Three pairs of 22k gold-plated earrings - jhumkas, chandbalis and studs - set with "
            "kundan stones and seed pearls, in a gift box."
        ),
        condition=Condition.new,
        starting_price=Decimal("1200.00"),
        ends_in=timedelta(days=1, hours=20),
        bids=_bids(("buyer3", "1250.00"), ("buyer2", "1400.00"), ("buyer1", "1500.00")),
        palette=((110, 70, 10), (250, 215, 110)),
        views=("All three pairs", "Chandbali close-up"),
        soft_close_seconds=300,
    ),
    DemoAuction(
        id=6,
        name="Kashmiri Silk Carpet",
        category_id=6,
        seller="kashmiri_crafts",
        description=(
            "Hand-knotted 4 x 6 ft carpet in pure silk, about 400 knots per square inch, with a "
            "tree-of-life design that changes shade with the light. Lightly used, professionally "
            "cleaned."
        ),
        condition=Condition.like_new,
        starting_price=Decimal("25000.00"),
        ends_in=timedelta(days=3, hours=18),
        bids=_bids(("buyer2", "25500.00"), ("buyer3", "27000.00"), ("buyer1", "28500.00")),
        palette=((100, 15, 25), (40, 90, 80)),
        views=("Full carpet", "Knot detail", "Fringe and border"),
        reserve_price=Decimal("30000.00"),
    ),
)

FEEDBACK_COMMENTS = {
    5: "Beautiful work, exactly as pictured and packed with care.",
    4: "Lovely piece; delivery took a little longer than expected.",
    3: "Decent quality, but the colours were duller than in the photos.",
}


# --- entry points ------------------------------------------------------------------------------


async def database_is_empty() -> bool:
    """No marketplace account (staff aside) and nothing for sale: demo data was never loaded.
    Categories and places say nothing now: migrations bring them to every database."""
    has_accounts = await BaseUser.exists().where(BaseUser.admin.eq(False))
    return not has_accounts and not await Product.exists()


async def seed(settings: Settings) -> SeedReport:
    """Create whatever demo data is missing, in one transaction, and issue buyer1 a login key.

    Image files are written before the transaction commits; if it fails they are removed again.
    """
    run = _Run(settings=settings, now=utc_now())
    try:
        async with write_transaction():
            await _seed_categories(run)
            await _seed_places(run)
            await _seed_accounts(run)
            await _seed_live_auctions(run)
            await _seed_past_sales(run)
            # A new key on every call: the plain key exists only in the report.
            token = await issue_token(run.users["buyer1"], settings)
    except BaseException:
        for path in run.written:
            path.unlink(missing_ok=True)
        raise
    accounts = [(a.username, a.email, DEMO_PASSWORD) for a in ACCOUNTS]
    return SeedReport(created=run.created, accounts=accounts, buyer_token=token)


@dataclass
class _Run:
    """State shared by the steps of one seed call."""

    settings: Settings
    now: datetime
    users: dict[str, int] = field(default_factory=dict)  # username -> user id
    written: list[Path] = field(default_factory=list)  # image files created by this call
    created: bool = False

    def mark(self, created: bool | None) -> None:
        self.created = self.created or bool(created)


# --- catalogue and places ----------------------------------------------------------------------


async def _seed_categories(run: _Run) -> None:
    wanted = [cid for cid, _, _ in CATEGORIES]
    rows = await Category.select(Category.id).where(Category.id.is_in(wanted))
    existing = {row["id"] for row in rows}
    missing = [
        Category(id=cid, name=name, description=description, parent=None)
        for cid, name, description in CATEGORIES
        if cid not in existing
    ]
    if missing:
        await Category.insert(*missing)
        run.mark(True)
    # Before any automatic id is drawn from the sequence, or the next one would be 1.
    await _sync_sequence(Category)
    for name, parent_id, description in SUBCATEGORIES:
        sub = await Category.objects().get_or_create(
            Category.name == name,
            defaults={Category.parent: parent_id, Category.description: description},
        )
        run.mark(sub._was_created)


async def _seed_places(run: _Run) -> None:
    for province_name, cities in PROVINCES.items():
        province = await Province.objects().get_or_create(Province.name == province_name)
        run.mark(province._was_created)
        for city_name in cities:
            city = await City.objects().get_or_create(
                (City.name == city_name) & (City.province == province.id)
            )
            run.mark(city._was_created)


async def _sync_sequence(table: type[Table]) -> None:
    """PostgreSQL's serial sequence does not see explicit ids; move it past them."""
    if not isinstance(table._meta.db, PostgresEngine):
        return
    name = table._meta.tablename
    await table.raw(
        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT MAX(id) FROM {name}))"
    )


# --- accounts ----------------------------------------------------------------------------------


async def _seed_accounts(run: _Run) -> None:
    for account in ACCOUNTS:
        run.users[account.username] = await _ensure_user(account, run)
        profile = await UserProfile.objects().get_or_create(
            UserProfile.user == run.users[account.username],
            defaults={
                UserProfile.role: account.role.value,
                UserProfile.phone_number: account.phone_number,
                UserProfile.created_at: run.now,
            },
        )
        run.mark(profile._was_created)
    for seller in SELLERS:
        await _ensure_seller_profile(seller, run)


async def _ensure_user(account: DemoAccount, run: _Run) -> int:
    """Find the user by username, or create it with a pre-hashed password.

    Hashing takes ~0.15 s of CPU, so it runs off the event loop, once, and only for new users.
    """
    existing = await BaseUser.select(BaseUser.id).where(BaseUser.username == account.username)
    if existing:
        return int(existing[0]["id"])
    password = await asyncio.to_thread(BaseUser.hash_password, DEMO_PASSWORD)
    is_admin = account.role is Role.admin
    user = BaseUser(
        username=account.username,
        password=password,
        email=account.email,
        first_name=account.first_name,
        last_name=account.last_name,
        active=True,
        admin=is_admin,
        superuser=is_admin,
    )
    rows = await BaseUser.insert(user).returning(BaseUser.id)
    run.mark(True)
    return int(rows[0]["id"])


async def _ensure_seller_profile(seller: DemoSeller, run: _Run) -> None:
    profile = await SellerProfile.objects().get_or_create(
        SellerProfile.user == run.users[seller.account.username],
        defaults={
            SellerProfile.brand_name: seller.brand_name,
            SellerProfile.biography: seller.biography,
            SellerProfile.business_phone: seller.business_phone,
            SellerProfile.website: seller.website,
            SellerProfile.social_media_links: json.dumps(seller.social_media_links),
            SellerProfile.is_verified: seller.is_verified,
            SellerProfile.created_at: run.now,
            SellerProfile.updated_at: run.now,
        },
    )
    run.mark(profile._was_created)


# --- live auctions -----------------------------------------------------------------------------


async def _seed_live_auctions(run: _Run) -> None:
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
    await _sync_sequence(Product)
    await _sync_sequence(Auction)


async def _create_live_auction(demo: DemoAuction, run: _Run) -> None:
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
    await _create_images(demo.id, demo.name, demo.views, demo.palette, run)
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
    )
    bids: list[Bid] = []
    events: list[AuctionEvent] = []
    count = len(demo.bids)
    for index, demo_bid in enumerate(demo.bids):
        username = demo_bid.buyer
        bidder = Bidder(run.users[username], username, f"{username}@example.com")
        at = run.now - timedelta(hours=3 * (count - index) + 1)
        decision = decide(state, [Attempt(bidder, demo_bid.amount, demo_bid.max_amount)], at)
        [outcome] = decision.outcomes
        if not isinstance(outcome, Accepted):
            raise SeedError(f"demo bid {demo_bid} on auction {demo.id}: {outcome.message}")
        state = decision.after
        bids += [
            Bid(
                auction=demo.id,
                bidder=b.bidder.id,
                amount=b.amount,
                bid_time=b.time,
                is_auto=b.is_auto,
                seq=b.seq,
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
            start_time=start,
            end_time=state.end_time,
            status=AuctionStatus.active.value,
            winner=None,
            created_at=start,
            updated_at=run.now,
        )
    )
    if bids:
        await Bid.insert(*bids)
        await AuctionEvent.insert(*events)


async def _create_images(
    product_id: int,
    name: str,
    views: tuple[str, ...],
    palette: tuple[RGB, RGB],
    run: _Run,
    pattern: int = 0,
) -> None:
    folder = run.settings.media_root / "products"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    rows = []
    for index, view in enumerate(views):
        path = folder / f"{uuid4().hex}.jpg"
        run.written.append(path)
        await asyncio.to_thread(_render_image, path, name, view, palette, pattern + index)
        rows.append(
            ProductImage(
                product=product_id,
                image=f"products/{path.name}",
                is_primary=index == 0,
                display_order=index,
            )
        )
    await ProductImage.insert(*rows)


def _render_image(
    path: Path, title: str, caption: str, palette: tuple[RGB, RGB], variant: int
) -> None:
    """A real JPEG placeholder: a two-colour gradient, a craft-like pattern and the product name."""
    width, height = IMAGE_SIZE
    vertical = Image.linear_gradient("L").resize(IMAGE_SIZE)
    horizontal = Image.linear_gradient("L").rotate(90).resize(IMAGE_SIZE)
    mask = (vertical, horizontal, ImageChops.add(vertical, horizontal, scale=2))[variant % 3]
    dark, light = (Image.new("RGB", IMAGE_SIZE, colour) for colour in palette)
    image = Image.composite(light, dark, mask)
    draw = ImageDraw.Draw(image, "RGBA")
    ink = (255, 255, 255, 45)
    if variant % 3 == 0:
        for radius in range(30, 500, 40):
            box = (width // 2 - radius, height // 2 - 40 - radius)
            draw.ellipse((*box, box[0] + 2 * radius, box[1] + 2 * radius), outline=ink, width=6)
    elif variant % 3 == 1:
        for x in range(-height, width, 36):
            draw.line((x, 0, x + height, height), fill=ink, width=10)
    else:
        for x in range(0, width + 60, 60):
            for y in range(0, height + 60, 60):
                draw.polygon(
                    ((x, y - 24), (x + 24, y), (x, y + 24), (x - 24, y)), outline=ink, width=4
                )
    draw.rectangle((0, height - 120, width, height), fill=(0, 0, 0, 140))
    draw.text((24, 20), "MadeInPK", font=_font(26), fill=(255, 255, 255, 220))
    draw.text((24, height - 104), title, font=_fitting_font(draw, title, width - 48), fill="white")
    draw.text((24, height - 48), caption, font=_font(26), fill=(230, 230, 230))
    image.save(path, "JPEG", quality=85, optimize=True)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fitting_font(
    draw: ImageDraw.ImageDraw, text: str, max_width: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font up to 44 px in which the text fits on one line."""
    for size in range(44, 18, -2):
        font = _font(size)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= max_width:
            return font
    return _font(18)


# --- past sales and ratings --------------------------------------------------------------------


async def _seed_past_sales(run: _Run) -> None:
    for seller in SELLERS:
        for index, sale in enumerate(seller.sales):
            number = _order_number(seller.account.username, index)
            order = await Order.select(Order.product).where(Order.order_number == number).first()
            if order is None:
                await _create_past_sale(seller, index, number, run)
                run.mark(True)
            elif not await ProductImage.exists().where(ProductImage.product == order["product"]):
                # Seeded before past sales had pictures: add them, or they show as blank cards.
                await _create_images(
                    order["product"], sale.name, SALE_VIEWS, _palette(sale), run, index
                )
                run.mark(True)
        await _refresh_rating(run.users[seller.account.username])


SALE_VIEWS = ("As sold",)


def _palette(sale: PastSale) -> tuple[RGB, RGB]:
    """A dark and a light colour of the sale's own, derived from its name (stable across runs)."""
    digest = hashlib.sha256(sale.name.encode()).digest()
    dark = (digest[0] % 120, digest[1] % 120, digest[2] % 120)
    light = (135 + digest[3] % 120, 135 + digest[4] % 120, 135 + digest[5] % 120)
    return dark, light


def _order_number(seller: str, index: int) -> str:
    """Derived from the sale, not random, so it is the sale's natural key for re-runs."""
    digest = hashlib.sha256(f"madeinpk-demo-sale/{seller}/{index}".encode()).hexdigest()
    return f"AUC-{digest[:12].upper()}"


async def _create_past_sale(seller: DemoSeller, index: int, order_number: str, run: _Run) -> None:
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
    await _create_images(product_id, sale.name, SALE_VIEWS, _palette(sale), run, index)
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


async def _refresh_rating(seller_id: int) -> None:
    """The profile's rating is the mean of every feedback row, as the feedback API keeps it."""
    rows = await Feedback.select(Feedback.seller_rating).where(Feedback.seller == seller_id)
    ratings = [int(row["seller_rating"]) for row in rows]
    average = (
        (Decimal(sum(ratings)) / len(ratings)).quantize(CENT, rounding=ROUND_HALF_UP)
        if ratings
        else Decimal("0.00")
    )
    await SellerProfile.update(
        {SellerProfile.average_rating: average, SellerProfile.total_feedbacks: len(ratings)}
    ).where(SellerProfile.user == seller_id)
