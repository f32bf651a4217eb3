"""Delivering outbox emails: over SMTP when configured, otherwise to the log (development)."""

from __future__ import annotations

import logging
from datetime import timedelta
from email.message import EmailMessage

import aiosmtplib

from madeinpk.notifications.tables import OutboxEmail
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=1)


async def deliver(outbox_id: int, settings: Settings) -> bool:
    """Send one queued email unless it was sent already or another sender holds it.

    The claim is a conditional UPDATE, so two workers (or a retry racing a sweep) cannot both
    send. Returns True when this call sent it; raises on an SMTP failure, leaving it unsent.
    """
    now = utc_now()
    claimed = (
        await OutboxEmail.update(
            {OutboxEmail.claimed_at: now, OutboxEmail.attempts: OutboxEmail.attempts + 1}
        )
        .where(
            (OutboxEmail.id == outbox_id)
            & OutboxEmail.sent_at.is_null()
            & (OutboxEmail.claimed_at.is_null() | (OutboxEmail.claimed_at < now - CLAIM_TIMEOUT))
        )
        .returning(OutboxEmail.to_address, OutboxEmail.subject, OutboxEmail.body)
    )
    if not claimed:
        return False
    row = claimed[0]
    try:
        await _send(row["to_address"], row["subject"], row["body"], settings)
    except Exception as exc:
        await OutboxEmail.update(
            {
                OutboxEmail.claimed_at: None,
                OutboxEmail.last_error: f"{type(exc).__name__}: {exc}"[:1000],
            }
        ).where(OutboxEmail.id == outbox_id)
        raise
    await OutboxEmail.update({OutboxEmail.sent_at: utc_now()}).where(OutboxEmail.id == outbox_id)
    return True


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
