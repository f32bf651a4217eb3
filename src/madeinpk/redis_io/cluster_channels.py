"""Live channels on a Redis Cluster: sharded pub/sub (``SSUBSCRIBE``/``SPUBLISH``).

Classic ``PUBLISH`` on a cluster is broadcast over the cluster bus to every node, so its cost
grows with the cluster; a sharded channel lives on the master that owns its slot (the slot of
the channel's name, as for a key), so each auction's and each user's events touch one node.

What redis-py 8.1 offers and why it is not used as is: ``RedisCluster.pubsub()`` gives a
``ClusterPubSub`` whose ``ssubscribe`` opens a connection per node and whose
``get_sharded_message`` polls those connections in turn, each for up to its ``timeout``; a lost
node connection is reconnected and resubscribed *silently* inside redis-py. Events published
while a node was away are gone (pub/sub keeps no history), and this project must tell the
watchers of those channels (1012, then replay from the log), so it has to see every break. Here:

- one plain connection per master that owns a subscribed channel (its address from the
  ``RedisCluster`` client's slot map), with no retry of its own, and one reader task per
  connection: a message is read as soon as it arrives, whichever node it is on;
- a lost node connection interrupts exactly the channels placed on that node: listeners hear
  of them at once (the live hub closes their watchers with 1012), the slot map is read again
  (a failover may have moved the slots to a promoted replica) and they are subscribed again
  with a bounded backoff, on whichever master owns them now; channels subscribed meanwhile are
  reported once more on recovery, as in ``redis_channels``;
- ``SPUBLISH`` through the ``RedisCluster`` client (pipelined by node for a message meant for
  several channels); a node that cannot be reached drops its events, logged, and is not tried
  again for ``publish_pause`` seconds, while other nodes' events go on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import AsyncGenerator, Iterable
from contextlib import suppress
from typing import Any

from litestar.channels.backends.base import ChannelsBackend
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import SlotNotCoveredError

from madeinpk.observability import metrics
from madeinpk.redis_io.redis_channels import UNAVAILABLE_ERRORS, Listener

logger = logging.getLogger(__name__)

# What "this node cannot be used now" looks like: a lost connection, a cluster that is down
# or a slot map that does not cover the channel (a master down with no replica to take over).
NODE_ERRORS = UNAVAILABLE_ERRORS
# First probe after 4 s idle, then every 2 s, gone after 3 unanswered (where the OS has them).
KEEPALIVE_PROBES = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 4), ("TCP_KEEPINTVL", 2), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


class NodeSubscription:
    """The sharded subscriptions this process holds on one master: one connection, one reader."""

    def __init__(self, name: str, host: str, port: int) -> None:
        self.name = name
        # No retry: redis-py would reconnect and resubscribe behind our back, hiding the gap.
        self.client = Redis(
            host=host,
            port=port,
            socket_connect_timeout=2,
            socket_keepalive=True,
            # A master powered off or cut off sends no reset: the kernel's probes find it
            # gone within ~10 s (not its default two hours), and the reader reports the break.
            socket_keepalive_options=KEEPALIVE_PROBES,
            retry=Retry(NoBackoff(), 0),
        )
        self.pubsub: PubSub = self.client.pubsub()
        self.channels: set[str] = set()
        self.reader: asyncio.Task[None] | None = None

    async def close(self) -> None:
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
        with suppress(Exception):
            async with asyncio.timeout(2):
                await self.pubsub.aclose()
        with suppress(Exception):
            async with asyncio.timeout(2):
                await self.client.aclose()


class ShardedPubSubBackend(ChannelsBackend):
    """Litestar channels backend on a Redis Cluster's sharded pub/sub (module docstring)."""

    def __init__(
        self,
        *,
        cluster: RedisCluster,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        operation_timeout: float = 5.0,
        publish_timeout: float = 2.0,
        publish_pause: float = 0.5,
    ) -> None:
        self._redis = cluster
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._timeout = operation_timeout
        self._publish_timeout = publish_timeout
        self._publish_pause = publish_pause
        self._wanted: set[str] = set()
        self._nodes: dict[str, NodeSubscription] = {}
        self._placed: dict[str, str] = {}  # channel -> node name
        self._broken: set[str] = set()  # wanted, not subscribed anywhere now
        self._paused: dict[str, float] = {}  # node name -> no publish before (monotonic)
        self._down_since: float | None = None
        self._listeners: list[Listener] = []
        self._queue_instance: asyncio.Queue[tuple[str, bytes]] | None = None
        self._lock_instance: asyncio.Lock | None = None
        self._repair: asyncio.Task[None] | None = None
        self._warming: asyncio.Task[None] | None = None
        self.reconnects = 0

    # Created on first use, inside the running loop (the backend is built outside one).
    @property
    def _lock(self) -> asyncio.Lock:
        if self._lock_instance is None:
            self._lock_instance = asyncio.Lock()
        return self._lock_instance

    @property
    def _queue(self) -> asyncio.Queue[tuple[str, bytes]]:
        if self._queue_instance is None:
            self._queue_instance = asyncio.Queue(maxsize=10_000)
        return self._queue_instance

    @property
    def healthy(self) -> bool:
        """False while some wanted channel is subscribed on no node."""
        return not self._broken

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._wanted)

    def add_listener(self, listener: Listener) -> None:
        """``listener(channels)`` is called (synchronously) for channels whose events may
        have been lost."""
        self._listeners.append(listener)

    async def ping(self) -> None:
        """Every master answers."""
        await self._redis.ping(target_nodes=RedisCluster.PRIMARIES)

    async def on_startup(self) -> None:
        # In the background: the cluster may be down at startup, and is then reached on first use.
        self._warming = asyncio.create_task(self._open_connections())

    async def _open_connections(self) -> None:
        """Read the slot map and open a connection to every master, so that the first event
        published to each does not wait for a connection (~30 ms on this machine)."""
        with suppress(Exception):
            async with asyncio.timeout(self._timeout):
                await self._redis.initialize()
                await self._redis.ping(target_nodes=RedisCluster.PRIMARIES)  # kept connections

    async def on_shutdown(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
        if self._repair is not None:
            self._repair.cancel()
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            await node.close()
        with suppress(Exception):
            async with asyncio.timeout(2):
                await self._redis.aclose()

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Subscribe each channel on its slot's master now if it answers; otherwise keep it
        for the repair loop. Never raises on a lost node."""
        new = set(channels)
        async with self._lock:
            self._wanted |= new
            for channel in new:
                if channel in self._placed:
                    continue
                try:
                    async with asyncio.timeout(self._timeout):
                        await self._place(channel)
                    self._broken.discard(channel)
                except NODE_ERRORS as exc:
                    if channel not in self._broken:
                        logger.warning("Channel %s not subscribed (%s); retrying", channel, exc)
                    self._broken.add(channel)
            if self._broken:
                self._start_repair()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = set(channels)
        async with self._lock:
            self._wanted -= gone
            self._broken -= gone
            for channel in gone:
                name = self._placed.pop(channel, None)
                node = self._nodes.get(name) if name is not None else None
                if node is None:
                    continue
                node.channels.discard(channel)
                try:
                    async with asyncio.timeout(self._timeout):
                        await node.pubsub.sunsubscribe(channel)
                except NODE_ERRORS:
                    pass  # the reader sees the broken connection and reports it
                if not node.channels:
                    del self._nodes[node.name]
                    await node.close()

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        """``SPUBLISH`` to each channel's master, or drop and log (see the module docstring)."""
        now = time.monotonic()
        targets: list[tuple[str, str]] = []
        try:
            await self._redis.initialize()
            for channel in set(channels):
                node = self._owner(channel)
                if self._paused.get(node.name, 0.0) > now:
                    metrics.record_publish_dropped(1)
                else:
                    targets.append((channel, node.name))
        except Exception as exc:
            metrics.record_publish_dropped(len(set(channels)))
            logger.warning("Redis Cluster slot map unavailable; event dropped: %s", exc)
            return
        if not targets:
            return
        try:
            async with asyncio.timeout(self._publish_timeout):
                # One command per channel, at once: a node that fails drops only its own.
                results = await asyncio.gather(
                    *(self._redis.spublish(channel, data) for channel, _ in targets),
                    return_exceptions=True,
                )
        except Exception as timeout:  # nothing is known to have gone out
            results = [timeout] * len(targets)
        failed = [(t, r) for t, r in zip(targets, results, strict=True) if isinstance(r, Exception)]
        if not failed:
            return
        for (_, name), _ in failed:
            self._paused[name] = time.monotonic() + self._publish_pause
        metrics.record_publish_dropped(len(failed))
        for (channel, name), error in failed:
            if isinstance(error, (*NODE_ERRORS, TimeoutError)):
                logger.warning(
                    "Redis Cluster node %s unreachable; event for %s dropped: %s",
                    name,
                    channel,
                    error,
                )
            else:
                logger.error("Publishing to %s failed; event dropped: %r", channel, error)

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:
            channel, data = await self._queue.get()
            if channel in self._wanted:
                yield channel, data

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("Pub/sub keeps no history")

    async def _place(self, channel: str) -> None:
        """``SSUBSCRIBE`` ``channel`` on the master that owns its slot (under the lock)."""
        await self._redis.initialize()
        owner = self._owner(channel)
        node = self._nodes.get(owner.name)
        if node is None:
            node = NodeSubscription(owner.name, owner.host, int(owner.port))
            self._nodes[owner.name] = node
        await node.pubsub.ssubscribe(channel)
        node.channels.add(channel)
        self._placed[channel] = node.name
        if node.reader is None:
            node.reader = asyncio.create_task(self._read(node), name=f"sharded-{node.name}")

    def _owner(self, channel: str) -> ClusterNode:
        """The master serving ``channel``'s slot, from the client's slot map."""
        node = self._redis.get_node_from_key(channel)
        if node is None:
            raise SlotNotCoveredError(f"No master serves the slot of {channel}")
        return node

    async def _read(self, node: NodeSubscription) -> None:
        while True:
            try:
                message = await node.pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not isinstance(exc, NODE_ERRORS):
                    logger.exception("Sharded pub/sub read from %s failed unexpectedly", node.name)
                await self._node_lost(node, exc)
                return
            if message is None or message.get("type") != "smessage":
                continue
            await self._queue.put((message["channel"].decode(), message["data"]))

    async def _node_lost(self, node: NodeSubscription, error: BaseException) -> None:
        async with self._lock:
            if self._nodes.get(node.name) is node:
                del self._nodes[node.name]
            interrupted = frozenset(c for c in node.channels if c in self._wanted)
            for channel in node.channels:
                if self._placed.get(channel) == node.name:
                    del self._placed[channel]
            self._broken |= interrupted
            if self._down_since is None:
                self._down_since = time.monotonic()
            logger.warning(
                "Redis Cluster node %s lost (%s); %d channel(s) interrupted, resubscribing",
                node.name,
                error or type(error).__name__,
                len(interrupted),
            )
            if self._broken:
                self._start_repair()
        await node.close()
        self._notify(interrupted)

    def _start_repair(self) -> None:
        if self._repair is None or self._repair.done():
            self._repair = asyncio.create_task(self._repair_with_backoff(), name="sharded-repair")

    async def _repair_with_backoff(self) -> None:
        delay = self._min_backoff
        attempts = 0
        while True:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            attempts += 1
            async with self._lock:
                if not self._broken:
                    return
                repaired = await self._try_repair(attempts)
                done = not self._broken
            self._notify(repaired)
            if done:
                return
            delay = min(delay * 2, self._max_backoff)

    async def _try_repair(self, attempts: int) -> frozenset[str]:
        """One attempt, under the lock: the slot map read again, then every broken channel
        subscribed on its owner. Returns the channels subscribed again."""
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.nodes_manager.initialize()
        except Exception as exc:
            logger.info("Redis Cluster slot map not read (attempt %d): %s", attempts, exc)
            return frozenset()
        repaired: set[str] = set()
        for channel in sorted(self._broken):
            try:
                async with asyncio.timeout(self._timeout):
                    await self._place(channel)
            except NODE_ERRORS as exc:
                logger.info(
                    "Channel %s not resubscribed yet (attempt %d): %s", channel, attempts, exc
                )
                continue
            repaired.add(channel)
        self._broken -= repaired
        if repaired and not self._broken:
            self.reconnects += 1
            metrics.record_redis_reconnect("channels")
            down = time.monotonic() - (self._down_since or time.monotonic())
            self._down_since = None
            logger.warning(
                "Redis pub/sub reconnected after %.1f s (%d attempt(s)); resubscribed %d "
                "sharded channel(s)",
                down,
                attempts,
                len(repaired),
            )
        return frozenset(repaired)

    def _notify(self, channels: frozenset[str]) -> None:
        if not channels:
            return
        for listener in self._listeners:
            try:
                listener(channels)
            except Exception:
                logger.exception("A channel interruption listener failed")
