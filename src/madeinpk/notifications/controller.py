"""``/api/notifications/…``: the caller's own notifications; anyone else's are "Not found."."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from madeinpk.http.auth import Account, requires_account
from madeinpk.http.errors import NotFound, field_error
from madeinpk.http.pagination import Page, PageRequest
from madeinpk.http.query import parse_boolean_filter
from madeinpk.http.requests import AnyRequest
from madeinpk.http.responses import Message
from madeinpk.notifications import service
from madeinpk.notifications.schemas import Notification, UnreadCount, notification_body


def _type_filter(value: str | None) -> str | None:
    if not value:
        return None
    if value not in service.NOTIFICATION_TYPES:
        raise field_error(
            "notification_type",
            f'Select a valid choice. "{value}" is not one of the available choices.',
        )
    return value


class NotificationController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]
    guards = [requires_account]

    @get("/", operation_id="ListNotifications")
    async def list_notifications(
        self,
        request: AnyRequest,
        account: NamedDependency[Account],
        paging: NamedDependency[PageRequest],
        is_read: FromQuery[str | None] = None,
        notification_type: FromQuery[str | None] = None,
    ) -> Page[Notification]:
        count, rows = await service.list_notifications(
            account.id,
            is_read=parse_boolean_filter("is_read", is_read),
            notification_type=_type_filter(notification_type),
            offset=paging.offset,
            limit=paging.size,
        )
        return paging.build(request, count, [notification_body(r) for r in rows])

    # Declared before the ``{notification_id:int}`` routes; Litestar also prefers static segments.
    @get("/unread_count/", operation_id="UnreadNotificationCount")
    async def unread_count(self, account: NamedDependency[Account]) -> UnreadCount:
        return UnreadCount(unread_count=await service.unread_count(account.id))

    @post("/mark_all_read/", status_code=HTTP_200_OK, operation_id="MarkAllNotificationsRead")
    async def mark_all_read(self, account: NamedDependency[Account]) -> Message:
        await service.mark_all_read(account.id)
        return Message(message="All notifications marked as read")

    @get("/{notification_id:int}/", operation_id="GetNotification")
    async def get_notification(
        self, account: NamedDependency[Account], notification_id: FromPath[int]
    ) -> Notification:
        row = await service.get_notification(account.id, notification_id)
        if row is None:
            raise NotFound()
        return notification_body(row)

    @post(
        "/{notification_id:int}/mark_read/",
        status_code=HTTP_200_OK,
        operation_id="MarkNotificationRead",
    )
    async def mark_read(
        self, account: NamedDependency[Account], notification_id: FromPath[int]
    ) -> Message:
        if not await service.mark_read(account.id, notification_id):
            raise NotFound()
        return Message(message="Notification marked as read")

    @delete(
        "/{notification_id:int}/",
        status_code=HTTP_204_NO_CONTENT,
        operation_id="DeleteNotification",
    )
    async def delete_notification(
        self, account: NamedDependency[Account], notification_id: FromPath[int]
    ) -> None:
        if not await service.delete_notification(account.id, notification_id):
            raise NotFound()
