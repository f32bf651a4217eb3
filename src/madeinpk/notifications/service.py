"""In-app notifications: every domain creates them through here so the shapes stay uniform, and
the notifications API reads and updates them through here."""

from __future__ import annotations

from typing import Any

# ``collecting_notified``: the users a block's ``notify`` calls wrote to, for the caller's
# ``AfterCommit`` (their sockets are pinged once the work committed).
from madeinpk.notifications.live import collecting_notified as collecting_notified
from madeinpk.notifications.live import note
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
    note(user_id)


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


# --- the reader's side: every query is scoped to its owner, so "not yours" is "not found" ------

NOTIFICATION_TYPES = frozenset(t.value for t in NotificationType)


def _own(user_id: int, notification_id: int) -> Any:
    return (Notification.id == notification_id) & (Notification.user == user_id)


async def list_notifications(
    user_id: int,
    *,
    is_read: bool | None,
    notification_type: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """The user's notifications, newest first, optionally filtered."""
    where: Any = Notification.user == user_id
    if is_read is not None:
        where &= Notification.is_read == is_read
    if notification_type is not None:
        where &= Notification.notification_type == notification_type
    count = await Notification.count().where(where)
    rows = (
        await Notification.select()
        .where(where)
        .order_by(Notification.created_at, ascending=False)
        .order_by(Notification.id, ascending=False)
        .offset(offset)
        .limit(limit)
    )
    return count, rows


async def get_notification(user_id: int, notification_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Notification.select().where(_own(user_id, notification_id)).first()
    )
    return row


async def mark_read(user_id: int, notification_id: int) -> bool:
    """False when there is no such notification of this user."""
    rows = (
        await Notification.update({Notification.is_read: True})
        .where(_own(user_id, notification_id))
        .returning(Notification.id)
    )
    return bool(rows)


async def mark_all_read(user_id: int) -> None:
    await Notification.update({Notification.is_read: True}).where(
        (Notification.user == user_id) & (Notification.is_read == False)  # noqa: E712
    )


async def unread_count(user_id: int) -> int:
    return await Notification.count().where(
        (Notification.user == user_id) & (Notification.is_read == False)  # noqa: E712
    )


async def delete_notification(user_id: int, notification_id: int) -> bool:
    """False when there is no such notification of this user."""
    rows = (
        await Notification.delete().where(_own(user_id, notification_id)).returning(Notification.id)
    )
    return bool(rows)
