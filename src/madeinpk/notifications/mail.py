"""Delivering outbox emails: over SMTP when configured, otherwise to the log (development)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib

from madeinpk.notifications.tables import OutboxEmail
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=1)


@dataclass(slots=True)
class Delivery:
    sent: int = 0
    failed: dict[int, Exception] = field(default_factory=dict)  # id -> why; still unsent


async def deliver(outbox_ids: list[int], settings: Settings) -> Delivery:
    """Send queued emails unless they were sent already or another sender holds them.

    The claim is one conditional UPDATE for the whole batch, so two workers (or a retry racing
    a sweep) cannot both send one email. A failed email is released, unsent, with its error.
    """
    now = utc_now()
    claimed = (
        await OutboxEmail.update(
            {OutboxEmail.claimed_at: now, OutboxEmail.attempts: OutboxEmail.attempts + 1}
        )
        .where(
            OutboxEmail.id.is_in(outbox_ids)
            & OutboxEmail.sent_at.is_null()
            & (OutboxEmail.claimed_at.is_null() | (OutboxEmail.claimed_at < now - CLAIM_TIMEOUT))
        )
        .returning(OutboxEmail.id, OutboxEmail.to_address, OutboxEmail.subject, OutboxEmail.body)
    )
    result = Delivery()
    sent: list[int] = []
    for row in claimed:
        try:
            await _send(row["to_address"], row["subject"], row["body"], settings)
        except Exception as exc:
            result.failed[row["id"]] = exc
            await OutboxEmail.update(
                {
                    OutboxEmail.claimed_at: None,
                    OutboxEmail.last_error: f"{type(exc).__name__}: {exc}"[:1000],
                }
            ).where(OutboxEmail.id == row["id"])
        else:
            sent.append(row["id"])
    if sent:
        await OutboxEmail.update({OutboxEmail.sent_at: utc_now()}).where(OutboxEmail.id.is_in(sent))
    result.sent = len(sent)
    return result


async def unsent_email_ids(limit: int = 200) -> list[int]:
    """Unsent emails that nobody is working on: never claimed for a while, or claimed long ago."""
    now = utc_now()
    rows = (
        await OutboxEmail.select(OutboxEmail.id)
        .where(
            OutboxEmail.sent_at.is_null()
            & (OutboxEmail.created_at < now - CLAIM_TIMEOUT)
            & (OutboxEmail.claimed_at.is_null() | (OutboxEmail.claimed_at < now - CLAIM_TIMEOUT))
        )
        .order_by(OutboxEmail.created_at)
        .limit(limit)
    )
    return [r["id"] for r in rows]


async def _send(to_address: str, subject: str, body: str, settings: Settings) -> None:
    if settings.smtp is None:
        logger.info(
            "Email (no SMTP configured) to %s\nSubject: %s\n\n%s", to_address, subject, body
        )
        return
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to_address
    message["Subject"] = subject
    message.set_content(body)
    smtp = settings.smtp
    await aiosmtplib.send(
        message,
        hostname=smtp.host,
        port=smtp.port,
        username=smtp.username,
        password=smtp.password,
        use_tls=smtp.use_tls,
        start_tls=smtp.start_tls,
        timeout=smtp.timeout,
    )


async def unsent_count() -> int:
    """The outbox backlog: emails not sent yet (``/metrics`` reads it on every scrape)."""
    return await OutboxEmail.count().where(OutboxEmail.sent_at.is_null())
