"""The notices' and emails' words: each text says the same things in English and Urdu (the same
placeholders), English renders the customer's words as before, amounts in Urdu are grouped the
Pakistani way, and ``Accept-Language`` picks our language the way browsers mean it."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from string import Template

import pytest
from hypothesis import given
from hypothesis import strategies as st

from madeinpk.notifications import emails, texts
from madeinpk.notifications.texts import (
    Language,
    Notice,
    Text,
    as_language,
    from_accept_language,
    pakistani_number,
)


def placeholders(template: str) -> set[str]:
    return {
        match.group("named") or match.group("braced")
        for match in Template.pattern.finditer(template)
        if match.group("named") or match.group("braced")
    }


TEXTS = {
    name: value
    for name, value in vars(texts).items()
    if isinstance(value, Text | Notice) and not name.startswith("_")
}
EMAILS = {n: v for n, v in vars(emails).items() if isinstance(v, emails.EmailTemplate)}


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_every_text_has_the_same_placeholders_in_both_languages(name: str) -> None:
    value = TEXTS[name]
    parts = [value.title, value.message] if isinstance(value, Notice) else [value]
    for part in parts:
        assert placeholders(part.en) == placeholders(part.ur), name
        assert part.ur and part.ur != part.en, f"{name} is not translated"


@pytest.mark.parametrize("name", sorted(EMAILS))
def test_every_email_is_in_urdu_with_the_same_placeholders(name: str) -> None:
    template = EMAILS[name]
    assert template.ur_subject is not None and template.ur_body is not None, name
    english = placeholders(template.subject.template) | placeholders(template.body.template)
    urdu = placeholders(template.ur_subject.template) | placeholders(template.ur_body.template)
    assert english == urdu, name


def test_english_renders_the_customers_words_unchanged() -> None:
    values = {"amount": Decimal("275000"), "product": "Shawl"}
    assert texts.OUTBID.render(Language.en, **values) == (
        "You have been outbid",
        "Someone placed a higher bid of Rs. 275000.00 on Shawl",
    )
    subject, body = emails.OUTBID.render(Language.en, username="ali", **values)
    assert subject == "You have been outbid on Shawl"
    assert "New highest bid: Rs. 275000.00\n" in body
    # Without a language (the callers' old form) a template writes English.
    assert emails.OUTBID.render(username="ali", **values) == (subject, body)


def test_urdu_renders_amounts_with_lakh_grouping_and_latin_digits() -> None:
    title, message = texts.OUTBID.render(Language.ur, amount=Decimal("275000"), product="Shawl")
    assert title == "آپ سے زیادہ بولی لگ گئی ہے"
    assert message == "کسی نے 2,75,000.00 روپے کی زیادہ بولی لگائی ہے: Shawl"
    _, body = emails.OUTBID.render(
        Language.ur, username="sana", product="Shawl", amount=Decimal("12345678.5")
    )
    assert body.startswith("محترم sana،\n")
    assert "نئی سب سے زیادہ بولی: 1,23,45,678.50 روپے\n" in body


# The newer notices (issue 22): what each one's callers pass it; every placeholder is filled.
NEWER_NOTICES: dict[str, dict[str, object]] = {
    "AUCTION_ENDING_SOON": {"product": "Shawl", "minutes": 30, "amount": Decimal("150000")},
    "AUCTION_STARTED": {"product": "Shawl", "amount": Decimal("150000")},
    "BID_REMOVED": {"product": "Shawl", "amount": Decimal("150000")},
    "LEAD_REGAINED": {"product": "Shawl", "amount": Decimal("150000")},
    "RELISTED": {"product": "Shawl", "auction": 7},
    "AUTO_RELISTED": {"product": "Shawl", "auction": 7, "left": 2},
    "AUTO_RELISTED_ONE_LEFT": {"product": "Shawl", "auction": 7, "left": 1},
    "SECOND_CHANCE_OFFER": {
        "product": "Shawl",
        "amount": Decimal("150000"),
        "expires_at": "2026-12-06 10:00 UTC",
    },
    "OFFER_ACCEPTED": {
        "product": "Shawl",
        "amount": Decimal("150000"),
        "hours": 24,
        "payment_url": "https://madeinpk.pk/orders/AUC-1/pay/",
    },
    "OFFER_ACCEPTED_SELLER": {
        "bidder": "sana",
        "product": "Shawl",
        "amount": Decimal("150000"),
        "order_number": "AUC-1",
    },
    "OFFER_DECLINED": {"bidder": "sana", "product": "Shawl"},
    "OFFER_EXPIRED": {"product": "Shawl"},
}


@pytest.mark.parametrize("name", sorted(NEWER_NOTICES))
def test_the_newer_notices_render_in_both_languages(name: str) -> None:
    notice = TEXTS[name]
    assert isinstance(notice, Notice)
    values = NEWER_NOTICES[name]
    english, urdu = notice.render(Language.en, **values), notice.render(Language.ur, **values)
    assert english != urdu and all("$" not in part for part in (*english, *urdu))
    if "amount" in values:
        assert "Rs. 150000.00" in english[1] and "1,50,000.00 روپے" in urdu[1]


def test_the_newer_notices_keep_the_customers_english() -> None:
    assert texts.AUCTION_ENDING_SOON.render(
        Language.en, product="Shawl", minutes=5, amount=Decimal("1100")
    ) == (
        "Auction ending soon",
        "The auction for Shawl ends in 5 minutes. Current price: Rs. 1100.00.",
    )
    assert texts.AUTO_RELISTED.render(Language.en, product="Shawl", auction=9, left=2)[1] == (
        "Your auction for Shawl ended without a sale and was relisted automatically as auction 9 "
        "(2 automatic relists left)."
    )
    assert texts.AUTO_RELISTED_ONE_LEFT.render(Language.en, product="Shawl", auction=9)[1] == (
        "Your auction for Shawl ended without a sale and was relisted automatically as auction 9 "
        "(1 automatic relist left)."
    )
    assert texts.RELISTED.render(Language.en, product="Shawl", auction=9) == (
        "An auction you bid on was relisted",
        "Shawl is up for auction again: auction 9.",
    )
    subject, body = emails.OFFER_ANSWERED.render(
        Language.ur,
        username="ali",
        bidder="sana",
        outcome=texts.DECLINED.render(Language.ur),
        product="Shawl",
        amount=Decimal("150000"),
        next_step=texts.NEXT_STEP_DECLINED.render(Language.ur),
    )
    assert subject == "دوسرے موقع کی پیشکش برائے Shawl: مسترد"
    assert (
        "sana نے Shawl کے لیے آپ کی دوسرے موقع کی پیشکش (1,50,000.00 روپے) کا جواب دیا: مسترد۔\n"
        in (body)
    )


def test_a_template_without_urdu_is_sent_in_english() -> None:
    plain = emails.EmailTemplate(subject=Template("Hi $name"), body=Template("Rs. $amount"))
    assert plain.render(Language.ur, name="a", amount=Decimal("100000")) == (
        "Hi a",
        "Rs. 100000.00",
    )


@pytest.mark.parametrize(
    ("amount", "written"),
    [
        ("0", "0.00"),
        ("5", "5.00"),
        ("999.5", "999.50"),
        ("1000", "1,000.00"),
        ("99999.99", "99,999.99"),
        ("100000", "1,00,000.00"),
        ("2875", "2,875.00"),
        ("1234567.5", "12,34,567.50"),
        ("10000000", "1,00,00,000.00"),
        ("99999999.99", "9,99,99,999.99"),
        ("-150000", "-1,50,000.00"),
    ],
)
def test_pakistani_number(amount: str, written: str) -> None:
    assert pakistani_number(Decimal(amount)) == written


@given(st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2))
def test_pakistani_number_reads_back_as_the_amount(amount: Decimal) -> None:
    written = pakistani_number(amount)
    whole = written.split(".")[0].split(",")
    assert Decimal(written.replace(",", "")) == amount
    assert len(whole[-1]) <= 3 and all(len(group) == 2 for group in whole[1:-1])


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, Language.en),
        ("", Language.en),
        ("ur", Language.ur),
        ("ur-PK", Language.ur),
        ("UR-pk,en;q=0.5", Language.ur),
        ("en-US,en;q=0.9,ur;q=0.8", Language.en),
        ("en;q=0.5, ur;q=0.8", Language.ur),
        ("fr-FR,ur;q=0.3", Language.ur),
        ("fr-FR,de", Language.en),
        ("ur;q=0", Language.en),
        ("ur;q=abc,en;q=0.1", Language.en),
        ("*", Language.en),
        (",,;;=", Language.en),
    ],
)
def test_accept_language(header: str | None, language: Language) -> None:
    assert from_accept_language(header) is language


def test_stored_languages() -> None:
    assert as_language("ur") is Language.ur
    assert as_language("en") is Language.en
    assert as_language(None) is Language.en
    assert as_language("fr") is Language.en


# --- the page's words (web/languages.js) --------------------------------------------------------

LANGUAGES_JS = Path(__file__).resolve().parents[2] / "src/madeinpk/web/languages.js"


def page_messages() -> dict[str, dict[str, str]]:
    """``MESSAGES`` of languages.js, read as text: each language's keys and their strings (a
    value may be several literals joined with ``+``)."""
    source = LANGUAGES_JS.read_text(encoding="utf-8")
    body = source[source.index("export const MESSAGES = {") : source.index("\n};\n")]
    found: dict[str, dict[str, str]] = {}
    for language, block in re.findall(r"\n  (\w+): \{\n(.*?)\n  \},", body + ",", re.DOTALL):
        entries = re.split(r"\n    (?=\w+: )", "\n" + block)
        found[language] = {
            entry.split(":", 1)[0].strip(): "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', entry))
            for entry in entries
            if entry.strip()
        }
    return found


def test_every_page_string_is_in_urdu_with_the_same_placeholders() -> None:
    messages = page_messages()
    assert set(messages) == {"en", "ur"}
    english, urdu = messages["en"], messages["ur"]
    assert len(english) > 100 and "buy_now" in english and "watch_count" in english
    assert set(english) == set(urdu)
    for key, text in english.items():
        assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", urdu[key])), key
        assert urdu[key], key
