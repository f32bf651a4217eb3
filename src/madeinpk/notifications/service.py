"""Creating in-app notifications; every domain goes through here so the shapes stay uniform."""

from __future__ import annotations

from madeinpk.notifications.tables import Notification, NotificationType
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
