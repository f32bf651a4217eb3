"""Email templates. Texts follow the customer's documents word for word where they give one.

Each email is written in English and in Urdu, side by side (the notices' words are in
``texts.py``); ``render`` writes it in the recipient's language, amounts as that language
writes them (``texts.written``). A template with no Urdu yet is sent in English.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from madeinpk.notifications.texts import Language, written


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    subject: Template
    body: Template
    ur_subject: Template | None = None
    ur_body: Template | None = None

    def render(self, language: Language = Language.en, /, **values: object) -> tuple[str, str]:
        urdu = language is Language.ur and self.ur_subject is not None and self.ur_body is not None
        subject, body = (self.ur_subject, self.ur_body) if urdu else (self.subject, self.body)
        assert subject is not None and body is not None
        spoken = Language.ur if urdu else Language.en
        text = {name: written(value, spoken) for name, value in values.items()}
        return subject.substitute(text), body.substitute(text)


OUTBID = EmailTemplate(
    subject=Template("You have been outbid on $product"),
    body=Template(
        """Dear $username,

You have been outbid on the auction for $product.

New highest bid: Rs. $amount

If you're still interested, you can place a higher bid to regain the lead.

Log in to your MadeInPK account to view the auction and place a new bid.

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("آپ سے زیادہ بولی لگ گئی ہے: $product"),
    ur_body=Template(
        """محترم $username،

نیلامی برائے $product میں آپ سے زیادہ بولی لگ گئی ہے۔

نئی سب سے زیادہ بولی: $amount روپے

اگر آپ اب بھی دلچسپی رکھتے ہیں تو برتری واپس لینے کے لیے زیادہ بولی لگا سکتے ہیں۔

نیلامی دیکھنے اور نئی بولی لگانے کے لیے اپنے MadeInPK اکاؤنٹ میں سائن اِن کریں۔

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)


AUCTION_WON = EmailTemplate(
    subject=Template("You won the auction for $product"),
    body=Template(
        """Dear $username,

Congratulations! You won the auction for $product with a bid of Rs. $amount.

Your order number is $order_number. Please complete payment within $hours hours:
$payment_url

If payment is not received by the deadline the order is cancelled and counted as a missed payment.

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("مبارک ہو! آپ نے نیلامی جیت لی: $product"),
    ur_body=Template(
        """محترم $username،

مبارک ہو! آپ نے نیلامی برائے $product، $amount روپے کی بولی سے جیت لی۔

آپ کا آرڈر نمبر $order_number ہے۔ براہِ کرم $hours گھنٹوں کے اندر ادائیگی مکمل کریں:
$payment_url

اگر مقررہ وقت تک ادائیگی موصول نہ ہوئی تو آرڈر منسوخ ہو جائے گا اور اسے چھوٹی ہوئی
ادائیگی شمار کیا جائے گا۔

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)

AUCTION_LOST = EmailTemplate(
    subject=Template("The auction for $product has ended"),
    body=Template(
        """Dear $username,

The auction for $product has ended. The winning bid was Rs. $amount.

Thank you for bidding. Many more handmade pieces are waiting for you on MadeInPK.

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("نیلامی ختم ہو گئی: $product"),
    ur_body=Template(
        """محترم $username،

نیلامی برائے $product ختم ہو گئی ہے۔ جیتنے والی بولی $amount روپے تھی۔

بولی لگانے کا شکریہ۔ MadeInPK پر ہاتھ سے بنی اور بہت سی چیزیں آپ کی منتظر ہیں۔

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)

RESERVE_NOT_MET = EmailTemplate(
    subject=Template("The auction you led has ended without a sale"),
    body=Template(
        """Dear $username,

$message

Thank you for bidding. Many more handmade pieces are waiting for you on MadeInPK.

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("جس نیلامی میں آپ آگے تھے وہ بغیر فروخت کے ختم ہو گئی"),
    ur_body=Template(
        """محترم $username،

$message

بولی لگانے کا شکریہ۔ MadeInPK پر ہاتھ سے بنی اور بہت سی چیزیں آپ کی منتظر ہیں۔

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)

AUCTION_ENDED_SELLER = EmailTemplate(
    subject=Template("Your auction for $product has ended"),
    body=Template(
        """Dear $username,

$outcome

Thank you for selling on MadeInPK!
"""
    ),
    ur_subject=Template("آپ کی نیلامی ختم ہو گئی: $product"),
    ur_body=Template(
        """محترم $username،

$outcome

MadeInPK پر فروخت کرنے کا شکریہ!
"""
    ),
)

PAYMENT_RECEIVED = EmailTemplate(
    subject=Template("Payment received for order $order_number"),
    body=Template(
        """Dear $username,

Payment of Rs. $amount for order $order_number ($product) has been received.

$next_step

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("ادائیگی موصول ہو گئی: آرڈر $order_number"),
    ur_body=Template(
        """محترم $username،

آرڈر $order_number ($product) کے لیے $amount روپے کی ادائیگی موصول ہو گئی ہے۔

$next_step

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)

ACCOUNT_BLOCKED = EmailTemplate(
    subject=Template("Your MadeInPK account has been blocked"),
    body=Template(
        """Dear $username,

Your account has been blocked due to $count failed payments.

You can still sign in and read your orders, but you can no longer bid. Contact MadeInPK
support if you believe this is a mistake.

MadeInPK
"""
    ),
    ur_subject=Template("آپ کا MadeInPK اکاؤنٹ بلاک کر دیا گیا ہے"),
    ur_body=Template(
        """محترم $username،

$count ناکام ادائیگیوں کی وجہ سے آپ کا اکاؤنٹ بلاک کر دیا گیا ہے۔

آپ اب بھی سائن اِن کر کے اپنے آرڈر دیکھ سکتے ہیں، لیکن اب بولی نہیں لگا سکتے۔ اگر آپ کے خیال میں
یہ غلطی ہے تو MadeInPK سپورٹ سے رابطہ کریں۔

MadeInPK
"""
    ),
)

AUCTION_ENDING_SOON = EmailTemplate(
    subject=Template("The auction for $product ends soon"),
    body=Template(
        """Dear $username,

The auction for $product ends in $minutes minutes, at $end_time UTC.

Current price: Rs. $amount

$standing

View the auction: $auction_url

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("نیلامی برائے $product جلد ختم ہو رہی ہے"),
    ur_body=Template(
        """محترم $username،

نیلامی برائے $product، $minutes منٹ میں ($end_time UTC پر) ختم ہو رہی ہے۔

موجودہ قیمت: $amount روپے

$standing

نیلامی دیکھیں: $auction_url

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)

AUCTION_STARTED = EmailTemplate(
    subject=Template("The auction for $product has started"),
    body=Template(
        """Dear $username,

The auction you are watching for $product has started. Bidding opens at Rs. $amount.

Log in to your MadeInPK account to view the auction and place a bid.

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("نیلامی برائے $product شروع ہو گئی ہے"),
    ur_body=Template(
        """محترم $username،

آپ جس نیلامی کو دیکھ رہے ہیں، برائے $product، شروع ہو گئی ہے۔ بولی $amount روپے سے شروع ہے۔

نیلامی دیکھنے اور بولی لگانے کے لیے اپنے MadeInPK اکاؤنٹ میں سائن اِن کریں۔

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)

# --- second-chance offers (docs/auction-rules.md § Second-chance offer) ------------------------

SECOND_CHANCE_OFFER = EmailTemplate(
    subject=Template("A second chance to buy $product"),
    body=Template(
        """Dear $username,

The winner of the auction for $product did not pay in time. The seller offers you the item at
your highest bid, Rs. $amount.

Accept or decline the offer in your MadeInPK account before $expires_at. If you accept, you will
have $hours hours to pay.

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("خریدنے کا ایک اور موقع: $product"),
    ur_body=Template(
        """محترم $username،

نیلامی برائے $product کے فاتح نے وقت پر ادائیگی نہیں کی۔ فروخت کنندہ آپ کو یہ چیز آپ کی سب سے
زیادہ بولی، $amount روپے، پر پیش کر رہا ہے۔

$expires_at سے پہلے اپنے MadeInPK اکاؤنٹ میں پیشکش قبول یا مسترد کریں۔ قبول کرنے پر آپ کے پاس
ادائیگی کے لیے $hours گھنٹے ہوں گے۔

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)

OFFER_ANSWERED = EmailTemplate(
    subject=Template("Your second-chance offer for $product was $outcome"),
    body=Template(
        """Dear $username,

$bidder has $outcome your second-chance offer for $product at Rs. $amount.
$next_step

Thank you for using MadeInPK!
"""
    ),
    ur_subject=Template("دوسرے موقع کی پیشکش برائے $product: $outcome"),
    ur_body=Template(
        """محترم $username،

$bidder نے $product کے لیے آپ کی دوسرے موقع کی پیشکش ($amount روپے) کا جواب دیا: $outcome۔
$next_step

MadeInPK استعمال کرنے کا شکریہ!
"""
    ),
)
