"""Creating in-app notifications; every domain goes through here so the shapes stay uniform."""

from __future__ import annotations

from madeinpk.notifications.tables import Notification, NotificationType, OutboxEmail
from madeinpk.timestamps import utc_now


async def notify(
    user_id: int,
    notification_type: NotificationType,
    title: str,
    message: str,
    *,
    auction_id: int | None = None,
    order_id: int | None = None,
) -> None:
    await Notification.insert(
        Notification(
            user=user_id,
            notification_type=notification_type.value,
            title=title,
            message=message,
            auction=auction_id,
            order=order_id,
            created_at=utc_now(),
        )
    )


async def queue_email(dedupe_key: str, to_address: str, subject: str, body: str) -> int | None:
    """Write an email to the outbox, inside the caller's transaction.

    Returns its id, or None when an email with this key was already queued: the key is what
    makes "exactly once" hold across retries, sweeps and racing workers.
    """
    rows = (
        await OutboxEmail.insert(
            OutboxEmail(
                dedupe_key=dedupe_key,
                to_address=to_address,
                subject=subject,
                body=body,
                created_at=utc_now(),
            )
        )
        .on_conflict(target=OutboxEmail.dedupe_key, action="DO NOTHING")
        .returning(OutboxEmail.id)
    )
    return rows[0]["id"] if rows else None
