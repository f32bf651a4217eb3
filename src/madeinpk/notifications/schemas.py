"""Notification bodies (``rest-api.md`` § Notifications)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Notification(msgspec.Struct):
    id: int
    notification_type: str
    title: str
    message: str
    is_read: bool
    order: int | None
    auction: int | None
    created_at: datetime


class UnreadCount(msgspec.Struct):
    unread_count: int


def notification_body(row: dict[str, Any]) -> Notification:
    return Notification(
        id=row["id"],
        notification_type=row["notification_type"],
        title=row["title"],
        message=row["message"],
        is_read=bool(row["is_read"]),
        order=row["order"],
        auction=row["auction"],
        created_at=row["created_at"],
    )
