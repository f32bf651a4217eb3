"""New notifications pushed to their owner's sockets (``/ws/notifications/``), from any process.

A transaction that writes notifications names their owners in its ``AfterCommit``; once it has
committed, ``Effects`` publishes a ping on each owner's channel (``PREFIX:user:ID``). A process
holding sockets of that user reads the user's notifications newer than the last it pushed, and
the unread count, in one go, and writes them to every socket of the user there. The ping carries
nothing but "look": a lost one is caught up by the next, order comes from the ids, and nothing
private travels through Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec
from litestar import WebSocket
from litestar.channels import ChannelsPlugin, Subscriber

from madeinpk.notifications.schemas import notification_body
from madeinpk.notifications.tables import Notification
from madeinpk.timestamps import utc_now

logger = logging.getLogger(__name__)

_noted: ContextVar[set[int] | None] = ContextVar("notified_users", default=None)
_encoder = msgspec.json.Encoder()


def user_channel(prefix: str, user_id: int) -> str:
    return f"{prefix}:user:{user_id}"


@contextmanager
def collecting_notified() -> Iterator[set[int]]:
    """The users ``notify`` writes to inside this block (to ping once the work committed)."""
    users: set[int] = set()
    token = _noted.set(users)
    try:
        yield users
    finally:
        _noted.reset(token)


def note(user_id: int) -> None:
    users = _noted.get()
    if users is not None:
        users.add(user_id)


class NewNotification(msgspec.Struct, tag="notification", tag_field="type"):
    data: Any  # the REST Notification object
    unread_count: int
    server_time: Any


class UnreadCount(msgspec.Struct, tag="unread_count", tag_field="type"):
    data: dict[str, int]
    server_time: Any


async def newest_id(user_id: int) -> int:
    row = (
        await Notification.select(Notification.id)
        .where(Notification.user == user_id)
        .order_by(Notification.id, ascending=False)
        .first()
    )
    return int(row["id"]) if row else 0


async def unread(user_id: int) -> int:
    return await Notification.count().where(
        (Notification.user == user_id) & (Notification.is_read == False)  # noqa: E712
    )


async def newer_than(user_id: int, after: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await Notification.select()
        .where((Notification.user == user_id) & (Notification.id > after))
        .order_by(Notification.id)
        .limit(100)
    )
    return rows


class Reader:
    """One socket of a user: what it was told at connect, and where its pushes start."""

    __slots__ = ("after", "socket")

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self.socket = socket
        self.after: int | None = None  # None: still connecting (pushes wait for the count)


class UserFeed:
    """The sockets of one user in this process and the one subscription they share."""

    def __init__(self, hub: NotificationFeeds, user_id: int) -> None:
        self.hub, self.user_id = hub, user_id
        self.readers: set[Reader] = set()
        self.subscriber: Subscriber | None = None
        self.consumer: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.pushed = 0  # the newest id read for this user here
        self.reading: asyncio.Task[None] | None = None
        self.again = False

    async def open(self) -> None:
        async with self.hub.subscription_lock:
            self.subscriber = await self.hub.channels.subscribe(
                user_channel(self.hub.prefix, self.user_id)
            )
        self.consumer = asyncio.create_task(self._consume(self.subscriber))
        self.subscribed.set()

    async def _consume(self, subscriber: Subscriber) -> None:
        # What a message holds is never read: any message means "something new" (a hot
        # auction's batch message is sent to its outbid users' channels too).
        async for _ in subscriber.iter_events():
            self.ping()

    def ping(self) -> None:
        if self.reading is not None:
            self.again = True  # read once more when this read is done
            return
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                self.again = False
                rows = await newer_than(self.user_id, self.pushed)
                if rows:
                    count = await unread(self.user_id)
                    self.pushed = rows[-1]["id"]
                    await self._push(rows, count)
                if not self.again:
                    return
        except Exception as exc:
            logger.warning("Notifications of user %s not pushed (%s)", self.user_id, exc)
        finally:
            self.reading = None

    async def _push(self, rows: list[dict[str, Any]], count: int) -> None:
        now = utc_now()
        for row in rows:
            text = _encoder.encode(
                NewNotification(data=notification_body(row), unread_count=count, server_time=now)
            ).decode()
            for reader in list(self.readers):
                if reader.after is not None and row["id"] > reader.after:
                    try:
                        await reader.socket.send(
                            {"type": "websocket.send", "text": text, "bytes": None}
                        )
                    except Exception:
                        self.readers.discard(reader)

    async def close(self) -> None:
        for task in (self.consumer, self.reading):
            if task is not None:
                task.cancel()
        if self.subscriber is not None:
            async with self.hub.subscription_lock:
                await self.hub.channels.unsubscribe(self.subscriber)


class NotificationFeeds:
    """The hub: a feed appears with a user's first socket in this process, goes with its last."""

    def __init__(self, channels: ChannelsPlugin, prefix: str) -> None:
        self.channels, self.prefix = channels, prefix
        self.feeds: dict[int, UserFeed] = {}
        self.subscription_lock = asyncio.Lock()

    async def join(self, user_id: int, socket: WebSocket[Any, Any, Any]) -> Reader:
        """Subscribe first, then read the count: a notification committed in between is in the
        count, one committed after is pushed."""
        reader = Reader(socket)
        feed = self.feeds.get(user_id)
        if feed is None:
            feed = self.feeds[user_id] = UserFeed(self, user_id)
            feed.readers.add(reader)
            try:
                await feed.open()
            except BaseException:
                await self.leave(user_id, reader)
                raise
        else:
            feed.readers.add(reader)
            await feed.subscribed.wait()
        newest, count = await asyncio.gather(newest_id(user_id), unread(user_id))
        await socket.send_data(
            _encoder.encode(UnreadCount(data={"unread_count": count}, server_time=utc_now())),
            mode="text",
        )
        reader.after = newest
        feed.pushed = max(feed.pushed, newest)
        return reader

    async def leave(self, user_id: int, reader: Reader) -> None:
        feed = self.feeds.get(user_id)
        if feed is None:
            return
        feed.readers.discard(reader)
        if not feed.readers and self.feeds.get(user_id) is feed:
            del self.feeds[user_id]
            await feed.close()
