"""The notices' words in each language the site speaks (English and Urdu), and how a recipient's
language and an amount of rupees are written.

Every in-app notice is a ``Notice`` here, its English and Urdu side by side, rendered in the
recipient's language when the notice is created (and stored so: a notice never changes its
words afterwards). The emails are the same, in ``emails.py``. The English words are the
customer's, unchanged; amounts in English stay as they always were (``Rs. 2875.00``), in Urdu
they are grouped the Pakistani way (``1,00,000.00 روپے``) with Latin digits. The API's own words
(error messages, codes, statuses) are the protocol's and stay English: nothing here touches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from string import Template

from madeinpk.money import format_money


class Language(str, Enum):
    """A user's language (``user_profile.language``); English unless chosen otherwise."""

    en = "en"
    ur = "ur"


LANGUAGES = frozenset(language.value for language in Language)


def as_language(value: str | None) -> Language:
    """A stored or sent language code; anything unknown reads as English."""
    return Language(value) if value in LANGUAGES else Language.en


def from_accept_language(header: str | None) -> Language:
    """The language an ``Accept-Language`` header prefers among ours (``ur-PK,ur;q=0.9,en;q=0.8``
    is Urdu); English when it names neither or is missing or malformed."""
    best, best_q = Language.en, -1.0
    for part in (header or "").split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # The first of equal weights wins; q=0 means "not this one".
        if q > 0 and q > best_q:
            best, best_q = Language(primary), q
    return best


def pakistani_number(amount: Decimal) -> str:
    """``12345678.5`` as ``1,23,45,678.50``: thousands, then lakhs and crores (groups of two).
    ICU (and so the browsers' ``Intl.NumberFormat``) groups ``en-PK``/``ur-PK`` by thousands."""
    text = format_money(amount)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, cents = text.split(".")
    head, tail = whole[:-3], whole[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return sign + ",".join([*groups, tail]) + "." + cents


def written(value: object, language: Language) -> str:
    """A value as it goes into a text: an amount as that language writes it (English keeps the
    plain ``2875.00`` its texts always had), anything else as it is."""
    if isinstance(value, Decimal):
        return pakistani_number(value) if language is Language.ur else format_money(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Text:
    """One text in both languages, with ``$name`` placeholders (``string.Template``)."""

    en: str
    ur: str

    def render(self, language: Language, **values: object) -> str:
        template = Template(self.ur if language is Language.ur else self.en)
        return template.substitute({k: written(v, language) for k, v in values.items()})


@dataclass(frozen=True, slots=True)
class Notice:
    """An in-app notice's title and message."""

    title: Text
    message: Text

    def render(self, language: Language, **values: object) -> tuple[str, str]:
        return self.title.render(language, **values), self.message.render(language, **values)


# --- accounts -----------------------------------------------------------------------------------

WELCOME = Notice(
    Text("Welcome to MadeInPK!", "MadeInPK میں خوش آمدید!"),
    Text(
        "Hi $username, welcome to MadeInPK: handmade goods from Pakistan's artisans, "
        "sold by live auction.",
        "السلام علیکم $username، MadeInPK میں خوش آمدید: پاکستان کے کاریگروں کی ہاتھ سے بنی "
        "چیزیں، براہِ راست نیلامی میں۔",
    ),
)

WELCOME_SELLER = Notice(
    Text("Welcome to Selling on MadeInPK!", "MadeInPK پر فروخت میں خوش آمدید!"),
    Text(
        "Your seller account is ready. List your first handmade item and start an auction.",
        "آپ کا فروخت کنندہ اکاؤنٹ تیار ہے۔ اپنی پہلی ہاتھ سے بنی چیز درج کریں اور نیلامی شروع "
        "کریں۔",
    ),
)

# --- bidding and endings ------------------------------------------------------------------------

OUTBID = Notice(
    Text("You have been outbid", "آپ سے زیادہ بولی لگ گئی ہے"),
    Text(
        "Someone placed a higher bid of Rs. $amount on $product",
        "کسی نے $amount روپے کی زیادہ بولی لگائی ہے: $product",
    ),
)

AUCTION_WON = Notice(
    Text("Congratulations! You won the auction", "مبارک ہو! آپ نے نیلامی جیت لی"),
    Text(
        "You won the auction for $product. Please complete payment within $hours hours: "
        "$payment_url",
        "آپ نے نیلامی برائے $product جیت لی۔ براہِ کرم $hours گھنٹوں کے اندر ادائیگی مکمل کریں: "
        "$payment_url",
    ),
)

AUCTION_LOST = Notice(
    Text("Auction ended", "نیلامی ختم ہو گئی"),
    Text(
        "The auction for $product has ended. The winning bid was Rs. $amount.",
        "نیلامی برائے $product ختم ہو گئی۔ جیتنے والی بولی $amount روپے تھی۔",
    ),
)

RESERVE_NOT_MET = Notice(
    Text("Auction ended", "نیلامی ختم ہو گئی"),
    Text(
        "The auction for $product has ended without a sale: the reserve price was not met.",
        "نیلامی برائے $product بغیر فروخت کے ختم ہو گئی: کم از کم قیمت (ریزرو) پوری نہیں ہوئی۔",
    ),
)

_SELLER_TITLE = Text("Your auction has ended", "آپ کی نیلامی ختم ہو گئی")

ENDED_NO_BIDS = Notice(
    _SELLER_TITLE,
    Text(
        "Your auction for $product has ended with no bids.",
        "آپ کی نیلامی برائے $product کسی بولی کے بغیر ختم ہو گئی۔",
    ),
)

ENDED_RESERVE_NOT_MET = Notice(
    _SELLER_TITLE,
    Text(
        "Your auction for $product has ended. The reserve price was not met.",
        "آپ کی نیلامی برائے $product ختم ہو گئی۔ کم از کم قیمت (ریزرو) پوری نہیں ہوئی۔",
    ),
)

ENDED_SOLD = Notice(
    _SELLER_TITLE,
    Text(
        "Your auction for $product has ended. Winner: $winner",
        "آپ کی نیلامی برائے $product ختم ہو گئی۔ جیتنے والے: $winner",
    ),
)

# What the seller's email says of a sale: the notice's words, and the price.
SOLD_OUTCOME = Text(
    "Your auction for $product has ended. Winner: $winner at Rs. $amount. The buyer has been "
    "sent payment details.",
    "آپ کی نیلامی برائے $product ختم ہو گئی۔ جیتنے والے: $winner، $amount روپے میں۔ خریدار کو "
    "ادائیگی کی تفصیلات بھیج دی گئی ہیں۔",
)

# --- orders -------------------------------------------------------------------------------------

PAYMENT_RECEIVED = Notice(
    Text("Payment received", "ادائیگی موصول ہو گئی"),
    Text(
        "Payment of Rs. $amount for order $order_number has been received.",
        "آرڈر $order_number کے لیے $amount روپے کی ادائیگی موصول ہو گئی ہے۔",
    ),
)

NEXT_STEP_BUYER = Text(
    "The seller will ship your item soon; you will be told when it is on its way.",
    "فروخت کنندہ جلد آپ کی چیز روانہ کرے گا؛ روانگی پر آپ کو اطلاع دی جائے گی۔",
)

NEXT_STEP_SELLER = Text(
    "Please ship the item and mark the order as shipped.",
    "براہِ کرم چیز روانہ کریں اور آرڈر کو روانہ شدہ نشان زد کریں۔",
)

ORDER_SHIPPED = Notice(
    Text("Your order has shipped", "آپ کا آرڈر روانہ ہو گیا ہے"),
    Text(
        "Order $order_number ($product) is on its way.",
        "آرڈر $order_number ($product) راستے میں ہے۔",
    ),
)

PAYMENT_MISSED = Notice(
    Text("Payment deadline missed", "ادائیگی کی آخری مہلت گزر گئی"),
    Text(
        "Order $order_number ($product) was cancelled because payment was not received in time.",
        "آرڈر $order_number ($product) منسوخ کر دیا گیا کیونکہ ادائیگی وقت پر موصول نہیں ہوئی۔",
    ),
)

YOUR_ITEM = Text("your item", "آپ کی چیز")  # a product since deleted

ACCOUNT_BLOCKED = Notice(
    Text("Account Blocked", "اکاؤنٹ بلاک کر دیا گیا"),
    Text(
        "Your account has been blocked due to $count failed payments.",
        "$count ناکام ادائیگیوں کی وجہ سے آپ کا اکاؤنٹ بلاک کر دیا گیا ہے۔",
    ),
)

# --- watching and reminders ---------------------------------------------------------------------

AUCTION_ENDING_SOON = Notice(
    Text("Auction ending soon", "نیلامی جلد ختم ہو رہی ہے"),
    Text(
        "The auction for $product ends in $minutes minutes. Current price: Rs. $amount.",
        "نیلامی برائے $product، $minutes منٹ میں ختم ہو رہی ہے۔ موجودہ قیمت: $amount روپے۔",
    ),
)

# Where the reminded person stands (the ending-soon email's ``$standing``).
STANDING_LEADING = Text("You are the highest bidder.", "سب سے زیادہ بولی آپ کی ہے۔")
STANDING_OUTBID = Text(
    "You are no longer the highest bidder: bid again to win it.",
    "اب سب سے زیادہ بولی آپ کی نہیں: جیتنے کے لیے دوبارہ بولی لگائیں۔",
)
STANDING_WATCHING = Text("You are watching this auction.", "آپ یہ نیلامی دیکھ رہے ہیں۔")

AUCTION_STARTED = Notice(
    Text("Auction started", "نیلامی شروع ہو گئی"),
    Text(
        "The auction for $product has started. Starting price: Rs. $amount.",
        "نیلامی برائے $product شروع ہو گئی ہے۔ ابتدائی قیمت: $amount روپے۔",
    ),
)

# --- bid removals and relisting -----------------------------------------------------------------

BID_REMOVED = Notice(
    Text("Your bid was removed", "آپ کی بولی ہٹا دی گئی"),
    Text(
        "Your bid of Rs. $amount on $product was removed by our staff.",
        "$product پر آپ کی $amount روپے کی بولی ہمارے عملے نے ہٹا دی۔",
    ),
)

LEAD_REGAINED = Notice(
    Text("You are the highest bidder again", "سب سے زیادہ بولی پھر آپ کی ہے"),
    Text(
        "A bid on $product was removed: you lead again at Rs. $amount.",
        "$product پر ایک بولی ہٹا دی گئی: $amount روپے پر آپ پھر سب سے آگے ہیں۔",
    ),
)

RELISTED = Notice(  # to the bidders of the unsold run
    Text(
        "An auction you bid on was relisted", "جس نیلامی میں آپ نے بولی لگائی تھی وہ دوبارہ لگ گئی"
    ),
    Text(
        "$product is up for auction again: auction $auction.",
        "$product دوبارہ نیلامی کے لیے پیش ہے: نیلامی $auction۔",
    ),
)

AN_ITEM_YOU_BID_ON = Text("An item you bid on", "جس چیز پر آپ نے بولی لگائی تھی، وہ")

_AUTO_RELISTED_TITLE = Text("Your auction was relisted", "آپ کی نیلامی دوبارہ لگا دی گئی")

AUTO_RELISTED = Notice(  # to the seller, with ``$left`` automatic relists left (not one)
    _AUTO_RELISTED_TITLE,
    Text(
        "Your auction for $product ended without a sale and was relisted automatically as "
        "auction $auction ($left automatic relists left).",
        "آپ کی نیلامی برائے $product بغیر فروخت کے ختم ہو گئی اور خودبخود نیلامی $auction کے طور "
        "پر دوبارہ لگا دی گئی (مزید $left خودکار دوبارہ نیلامیاں باقی ہیں)۔",
    ),
)

AUTO_RELISTED_ONE_LEFT = Notice(
    _AUTO_RELISTED_TITLE,
    Text(
        "Your auction for $product ended without a sale and was relisted automatically as "
        "auction $auction (1 automatic relist left).",
        "آپ کی نیلامی برائے $product بغیر فروخت کے ختم ہو گئی اور خودبخود نیلامی $auction کے طور "
        "پر دوبارہ لگا دی گئی (مزید 1 خودکار دوبارہ نیلامی باقی ہے)۔",
    ),
)

# --- second-chance offers -----------------------------------------------------------------------

SECOND_CHANCE_OFFER = Notice(
    Text("A second chance to buy", "خریدنے کا ایک اور موقع"),
    Text(
        "The seller offers you $product at your highest bid of Rs. $amount. "
        "Accept or decline before $expires_at.",
        "فروخت کنندہ آپ کو $product آپ کی سب سے زیادہ بولی، $amount روپے، پر پیش کر رہا ہے۔ "
        "$expires_at سے پہلے قبول یا مسترد کریں۔",
    ),
)

_OFFER_ACCEPTED_TITLE = Text("Second-chance offer accepted", "دوسرے موقع کی پیشکش قبول ہو گئی")

OFFER_ACCEPTED = Notice(  # to the bidder who accepted
    _OFFER_ACCEPTED_TITLE,
    Text(
        "You accepted the offer for $product at Rs. $amount. "
        "Please complete payment within $hours hours: $payment_url",
        "آپ نے $product کی پیشکش $amount روپے میں قبول کر لی۔ براہِ کرم $hours گھنٹوں کے اندر "
        "ادائیگی مکمل کریں: $payment_url",
    ),
)

OFFER_ACCEPTED_SELLER = Notice(
    _OFFER_ACCEPTED_TITLE,
    Text(
        "$bidder accepted your offer for $product at Rs. $amount: order $order_number.",
        "$bidder نے $product کے لیے آپ کی پیشکش $amount روپے میں قبول کر لی: آرڈر $order_number۔",
    ),
)

OFFER_DECLINED = Notice(
    Text("Second-chance offer declined", "دوسرے موقع کی پیشکش مسترد ہو گئی"),
    Text(
        "$bidder declined your offer for $product.",
        "$bidder نے $product کے لیے آپ کی پیشکش مسترد کر دی۔",
    ),
)

OFFER_EXPIRED = Notice(
    Text("Second-chance offer expired", "دوسرے موقع کی پیشکش کی مدت ختم ہو گئی"),
    Text(
        "Your offer for $product was not answered in time.",
        "$product کے لیے آپ کی پیشکش کا وقت پر جواب نہیں آیا۔",
    ),
)

# The seller's email of an answer (``emails.OFFER_ANSWERED``): the answer, and what comes next.
ACCEPTED = Text("accepted", "قبول")
DECLINED = Text("declined", "مسترد")
NEXT_STEP_ACCEPTED = Text(
    "Order $order_number awaits their payment within $hours hours.",
    "آرڈر $order_number، $hours گھنٹوں کے اندر ان کی ادائیگی کا منتظر ہے۔",
)
NEXT_STEP_DECLINED = Text(
    "You may relist the item or offer it to the next bidder.",
    "آپ یہ چیز دوبارہ نیلامی میں لگا سکتے ہیں یا اگلے بولی دہندہ کو پیش کر سکتے ہیں۔",
)
