"""Redis pub/sub channels that survive a Redis restart.

Litestar's ``RedisChannelsPubSubBackend`` lets the first ``ConnectionError`` escape: the plugin's
subscriber task dies (no process hears another event), its publisher task dies too, and the
publish queue is never drained, so shutdown waits on it for ever. This subclass keeps the set of
channels it was asked for, reconnects with a bounded backoff and subscribes them all again, and
never lets a publish failure reach the plugin: an event published while Redis is down is
dropped (pub/sub keeps no history), and it says so.

Because events can be lost while the stream is broken, it tells its listeners which channels
were interrupted: once when the connection is lost, and once more on reconnect for channels
that were subscribed while Redis was away (a watcher who joined then may have missed events
between its snapshot and the resubscription). The live hub closes those watchers' sockets so
their clients reconnect and read a fresh ``auction_status``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from contextlib import suppress
from typing import Any

from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ClusterError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from madeinpk.observability import metrics

logger = logging.getLogger(__name__)

#: What a lost or unreachable server looks like, from redis-py and from the socket below it.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
)

#: ... and what a Redis Cluster answers while a master is down or its slots are moving.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    *CONNECTION_ERRORS,
    ClusterError,
    TryAgainError,
    SlotNotCoveredError,
)

Listener = Callable[[frozenset[str]], object]


class ReconnectingPubSubBackend(RedisChannelsPubSubBackend):
    """``RedisChannelsPubSubBackend`` that reconnects, resubscribes and never raises on a lost
    connection (see the module docstring)."""

    def __init__(
        self,
        *,
        redis: Redis,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        operation_timeout: float = 5.0,
        publish_timeout: float = 2.0,
        publish_pause: float = 0.5,
    ) -> None:
        super().__init__(redis=redis)
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._timeout = operation_timeout
        self._publish_timeout = publish_timeout
        self._publish_pause = publish_pause
        self._wanted: set[str] = set()
        self._pubsub: PubSub | None = None
        self._healthy = True
        self._down_since: float | None = None
        self._attempts = 0
        self._publish_paused_until = 0.0
        self._lock_instance: asyncio.Lock | None = None
        self._listeners: list[Listener] = []
        self.reconnects = 0

    # The parent reads its PubSub through this property; ours can be replaced on reconnect.
    @property
    def _pub_sub(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
        return self._pubsub

    @property
    def _lock(self) -> asyncio.Lock:
        # Created on first use, inside the running loop (the backend is built outside one).
        if self._lock_instance is None:
            self._lock_instance = asyncio.Lock()
        return self._lock_instance

    @property
    def healthy(self) -> bool:
        """False from a lost connection until every wanted channel is subscribed again."""
        return self._healthy

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._wanted)

    async def ping(self) -> None:
        await self._redis.ping()

    def add_listener(self, listener: Listener) -> None:
        """``listener(channels)`` is called (synchronously) for channels whose events may
        have been lost."""
        self._listeners.append(listener)

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Subscribe now if Redis answers; otherwise remember the channels for the reconnect.
        Never raises on a lost connection: the caller's state stays consistent either way."""
        new = set(channels)
        async with self._lock:
            self._wanted |= new
            if self._healthy:
                try:
                    async with asyncio.timeout(self._timeout):
                        await self._pub_sub.subscribe(*new)
                except CONNECTION_ERRORS as exc:
                    self._lost(exc)
            else:
                # One immediate try: a watcher joining just after Redis came back should not
                # wait for the backoff, nor be closed again for a gap it was never in.
                await self._try_reconnect(fresh=new)
        self._has_subscribed.set()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = set(channels)
        async with self._lock:
            self._wanted -= gone
            if self._healthy and self._pubsub is not None:
                try:
                    async with asyncio.timeout(self._timeout):
                        await self._pubsub.unsubscribe(*gone)
                except CONNECTION_ERRORS as exc:
                    self._lost(exc)
            if not self._wanted:
                self._has_subscribed.clear()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        """Publish, or drop the event and log why: the plugin's publisher task must survive
        (a dead one also hangs shutdown on its queue). After a failure, events within
        ``publish_pause`` are dropped without a try, so a backlog drains at once (and shutdown,
        which waits for the queue, waits at most ``publish_timeout`` for it)."""
        targets = list(channels)
        await self._publish_or_drop(
            lambda: RedisChannelsPubSubBackend.publish(self, data, targets),
            len(targets),
            f"event for {targets}",
        )

    async def publish_many(self, items: list[tuple[bytes, list[str]]]) -> None:
        """``publish`` for several messages in one round trip: a pipeline of ``PUBLISH``
        commands, in order (so each channel's events stay in ``seq`` order)."""

        async def send() -> None:
            pipe = self._redis.pipeline(transaction=False)
            for data, channels in items:
                for channel in dict.fromkeys(channels):
                    pipe.publish(channel, data)
            await pipe.execute()

        targets = sum(len(set(channels)) for _, channels in items)
        await self._publish_or_drop(send, targets, f"{len(items)} events")

    async def _publish_or_drop(
        self, send: Callable[[], Awaitable[object]], targets: int, what: str
    ) -> None:
        if time.monotonic() < self._publish_paused_until:
            metrics.record_publish_dropped(targets)
            return
        try:
            async with asyncio.timeout(self._publish_timeout):
                await send()
        except Exception as exc:
            self._publish_paused_until = time.monotonic() + self._publish_pause
            metrics.record_publish_dropped(targets)
            if isinstance(exc, CONNECTION_ERRORS):
                logger.warning("Redis unreachable; %s dropped: %s", what, exc)
            else:
                logger.exception("Publishing %s failed; event dropped", what)

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        """The parent's loop, plus: a lost connection is recovered here, never raised."""
        while True:
            await self._has_subscribed.wait()
            if not self._healthy:
                await self._reconnect_with_backoff()
                continue
            pubsub = self._pub_sub
            try:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self._stream_sleep_no_subscriptions
                )
            except Exception as exc:
                if pubsub is self._pubsub:  # not already replaced by a reconnect
                    if not isinstance(exc, CONNECTION_ERRORS):
                        logger.exception("Redis pub/sub read failed unexpectedly")
                    self._lost(exc)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if channel in self._wanted:
                yield channel, message["data"]

    async def on_shutdown(self) -> None:
        """Bounded: a shutdown while Redis is down must not wait on it."""
        pubsub, self._pubsub = self._pubsub, None
        await self._discard(pubsub)
        with suppress(Exception):
            async with asyncio.timeout(2):
                await self._redis.aclose()

    def _lost(self, error: BaseException) -> None:
        if not self._healthy:
            return
        self._healthy = False
        self._down_since = time.monotonic()
        self._attempts = 0
        interrupted = frozenset(self._wanted)
        logger.warning(
            "Redis pub/sub connection lost (%s); %d channel(s) interrupted, reconnecting",
            error or type(error).__name__,
            len(interrupted),
        )
        self._has_subscribed.set()  # wake the stream loop even with nothing subscribed
        self._notify(interrupted)

    async def _reconnect_with_backoff(self) -> None:
        delay = self._min_backoff
        while not self._healthy:
            async with self._lock:
                if self._healthy or await self._try_reconnect(fresh=set()):
                    return
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._max_backoff)

    async def _try_reconnect(self, fresh: set[str]) -> bool:
        """One attempt, under the lock: a new connection, every wanted channel subscribed.
        ``fresh`` channels are being subscribed by the caller right now, before its snapshot,
        so they missed nothing."""
        self._attempts += 1
        old, self._pubsub = self._pubsub, None
        await self._discard(old)
        pubsub = self._redis.pubsub()
        wanted = set(self._wanted)
        try:
            async with asyncio.timeout(self._timeout):
                if wanted:
                    await pubsub.subscribe(*wanted)
                else:
                    await self._redis.ping()
        except CONNECTION_ERRORS as exc:
            await self._discard(pubsub)
            logger.info("Redis pub/sub reconnect attempt %d failed: %s", self._attempts, exc)
            return False
        self._pubsub = pubsub
        self._healthy = True
        self._publish_paused_until = 0.0
        self.reconnects += 1
        metrics.record_redis_reconnect("channels")
        down = time.monotonic() - (self._down_since or time.monotonic())
        logger.warning(
            "Redis pub/sub reconnected after %.1f s (%d attempt(s)); resubscribed %d channel(s)",
            down,
            self._attempts,
            len(wanted),
        )
        if not wanted:
            self._has_subscribed.clear()
        self._notify(frozenset(wanted - fresh))
        return True

    def _notify(self, channels: frozenset[str]) -> None:
        if not channels:
            return
        for listener in self._listeners:
            try:
                listener(channels)
            except Exception:
                logger.exception("A channel interruption listener failed")

    async def _discard(self, pubsub: PubSub | None) -> None:
        if pubsub is None:
            return
        with suppress(Exception):
            async with asyncio.timeout(2):
                await pubsub.aclose()
