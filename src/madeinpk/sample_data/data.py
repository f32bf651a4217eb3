"""What the demo data is: the categories, places, accounts, live auctions and past sales."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from madeinpk.accounts.tables import Role
from madeinpk.catalog.tables import Condition
from madeinpk.notifications.texts import Language

DEMO_PASSWORD = "madeinpk123"

RGB = tuple[int, int, int]


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
    language: Language = Language.en  # of their notices and emails (docs/languages.md)

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
    buy_now_price: Decimal | None = None  # Buy It Now (open while the reserve is not met)
    # The bid (index in ``bids``) staff removed afterwards (docs/auction-rules.md § 10).
    removed_bid: int | None = None


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
        account=DemoAccount(
            "multani_pottery", "Ayesha", "Qureshi", Role.seller, "+923215551302", Language.ur
        ),
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
    DemoAccount("buyer2", "Sana", "Malik", Role.buyer, "+923005550002", Language.ur),
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
            ("buyer2", "2450.00"),  # removed by staff: buyer3 leads again at 2300.00
        ),
        removed_bid=4,
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
        buy_now_price=Decimal("45000.00"),
    ),
)


@dataclass(frozen=True, slots=True)
class DemoScheduled:
    """A listing that opens a few minutes after seeding (status ``scheduled`` until then), so
    the demo shows a scheduled start and its ``auction_started``; no bids, an automatic id."""

    name: str
    category_id: int
    seller: str
    description: str
    condition: Condition
    starting_price: Decimal
    starts_in: timedelta  # after seeding
    lasts: timedelta
    palette: tuple[RGB, RGB]
    views: tuple[str, ...]


SCHEDULED_AUCTION = DemoScheduled(
    name="Hand-painted Truck Art Kettle",
    category_id=8,
    seller="lahore_artisans",
    description=(
        "A steel kettle painted by hand in Pakistani truck-art style: peacocks, roses and "
        "calligraphy in bright enamel, with a lacquered finish. Opens for bids shortly."
    ),
    condition=Condition.new,
    starting_price=Decimal("3200.00"),
    starts_in=timedelta(minutes=10),
    lasts=timedelta(days=2),
    palette=((200, 40, 60), (250, 200, 40)),
    views=("Kettle", "Painted detail"),
)

FEEDBACK_COMMENTS = {
    5: "Beautiful work, exactly as pictured and packed with care.",
    4: "Lovely piece; delivery took a little longer than expected.",
    3: "Decent quality, but the colours were duller than in the photos.",
}


# Watchlists (docs/auction-rules.md § Watchlist and reminders): (buyer, auction id), oldest
# first. The carpet is watched by every buyer, so its page shows a count; buyer1 also watches
# auctions it has not bid on.
WATCHES: tuple[tuple[str, int], ...] = (
    ("buyer1", 6),
    ("buyer2", 6),
    ("buyer3", 6),
    ("buyer1", 4),
    ("buyer3", 1),
)
