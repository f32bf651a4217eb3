"""The Taskiq broker and schedule source, made to live through a Redis restart.

What taskiq-redis 1.2.4 does on its own: ``RedisStreamBroker.listen`` lets the first
``ConnectionError`` escape, which kills the worker's receiver; the process manager restarts
the child, whose startup fails again while Redis is down, until ``max_fails`` stops the whole
``taskiq worker``. A Redis restarted without persistence also comes back without the stream's
consumer group, so even a surviving reader gets ``NOGROUP`` for ever. And ``kick`` raises to
whoever queued the task, often after the caller's transaction has committed.

Here the listener backs off (bounded), declares the consumer group again (from the stream's
start, so tasks queued between the restart and the re-declaration are not skipped), and goes
on; a kick that cannot reach Redis is logged and dropped. Dropping is safe in this project
only because every task has a sweep behind it (the outbox every 30 s, overdue auctions every
2 s, unpaid orders every 2 s); a new task without one must not rely on this.

On a Redis Cluster (``REDIS_CLUSTER``) the same recovery wraps taskiq-redis's
``RedisStreamClusterBroker`` (plus the reclaiming of a dead worker's pending tasks, which that
class lacks), a master's restart being what a Redis restart is here; the schedule source keeps
its lists and minute index under one hash tag, so they live in one slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import ResponseError
from redis.typing import KeyT, StreamIdT
from taskiq import AckableMessage, AsyncBroker, BrokerMessage
from taskiq.scheduler.scheduled_task import ScheduledTask
from taskiq_redis import ListRedisScheduleSource, RedisStreamBroker, RedisStreamClusterBroker

from madeinpk.observability import metrics
from madeinpk.redis_io.redis_channels import UNAVAILABLE_ERRORS as RETRIED_ERRORS
from madeinpk.redis_io.redis_topology import AsyncRedis, connection_options, redis_client

logger = logging.getLogger(__name__)

# Connections per process and pool: the scheduler sends a second's one-offs (and deletes them)
# concurrently, and an unbounded pool opened a connection for each of a thousand.
POOL_SIZE = 16
# Drop a minute from the index only if its list is (still) empty: a one-off added to that minute
# meanwhile pushes to the list before it indexes the minute, so it is never dropped unseen.
_UNINDEX_IF_EMPTY = """
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.call('SREM', KEYS[1], KEYS[2]) end
return 0
"""
MIN_BACKOFF = 0.2
MAX_BACKOFF = 5.0
KICK_TIMEOUT = 3.0


# redis-py types a reply as every shape it may take under either protocol, in ``bytes | str``
# (decoding is a client option). These clients do not decode; what they get is read as this.
# An XREADGROUP reply: per stream, its name and its entries (id, fields).
StreamEntries = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
# An XAUTOCLAIM reply: the next start id, the claimed entries (no fields if trimmed), deleted ids.
ClaimedEntries = tuple[bytes, list[tuple[bytes, dict[bytes, bytes] | None]], list[bytes]]


async def _whole_list(redis: AsyncRedis, key: str) -> list[bytes]:
    """``LRANGE key 0 -1``: the items, bytes (see above)."""
    return cast(list[bytes], await redis.lrange(key, 0, -1))


def _is_missing_group(exc: BaseException) -> bool:
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


if TYPE_CHECKING:

    class _StreamBroker(AsyncBroker):
        """What ``StreamRecovery`` calls on the taskiq-redis broker after it in the MRO (both
        stream brokers have these; ``AsyncBroker`` does not, or only abstract)."""

        def listen(self) -> AsyncGenerator[AckableMessage, None]: ...

        async def kick(self, message: BrokerMessage) -> None: ...

        def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]: ...

else:
    _StreamBroker = AsyncBroker


class StreamRecovery(_StreamBroker):
    """What both stream brokers (one Redis, a cluster) add to taskiq-redis's: a listener that
    survives a Redis (or node) restart, and kicks and acks that never raise for an unreachable
    Redis (see the module docstring). A mixin: put it before the taskiq-redis class."""

    queue_name: str
    consumer_group_name: str
    additional_streams: dict[str, Any]
    # Set when a worker starts reading (its startup, consumer group included, is done).
    listening: asyncio.Event

    def client(self) -> AsyncRedis:
        """A client on the broker's connections, for our own commands (heartbeats, probes)."""
        raise NotImplementedError

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        self.listening.set()
        delay = MIN_BACKOFF
        down_since: float | None = None
        while True:
            try:
                async for message in super().listen():
                    if down_since is not None:
                        self._recovered(down_since)
                        down_since, delay = None, MIN_BACKOFF
                    yield message
            except Exception as exc:
                if not (isinstance(exc, RETRIED_ERRORS) or _is_missing_group(exc)):
                    raise
                if down_since is None:
                    down_since = time.monotonic()
                    logger.warning("Task queue unreachable (%s); reconnecting", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                try:
                    await self._declare_group_again()
                except Exception as retry_exc:
                    if not isinstance(retry_exc, RETRIED_ERRORS):
                        raise
                    logger.info("Task queue still unreachable: %s", retry_exc)
                    continue
                self._recovered(down_since)
                down_since, delay = None, MIN_BACKOFF

    def _recovered(self, down_since: float) -> None:
        metrics.record_redis_reconnect("task_queue")
        logger.warning(
            "Task queue reconnected after %.1f s; consumer group %r in place",
            time.monotonic() - down_since,
            self.consumer_group_name,
        )

    async def _declare_group_again(self) -> None:
        """Like ``_declare_consumer_group`` but from id 0: a Redis that lost its data holds
        only tasks queued since it came back, and none of them may be skipped."""
        redis = self.client()
        for stream in {self.queue_name, *self.additional_streams}:
            try:
                await redis.xgroup_create(stream, self.consumer_group_name, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        """A task that finished while Redis was down cannot be acknowledged: say so once,
        instead of an unretrieved-exception traceback. It stays pending and may run again
        (tasks are idempotent), or it went with Redis's data."""
        ack = super()._ack_generator(id, queue_name)

        async def ack_or_log() -> None:
            try:
                await ack()
            except RETRIED_ERRORS as exc:
                logger.warning("Task %s not acknowledged, Redis unreachable: %s", id, exc)

        return ack_or_log

    async def kick(self, message: BrokerMessage) -> None:
        try:
            async with asyncio.timeout(KICK_TIMEOUT):
                await super().kick(message)
        except RETRIED_ERRORS as exc:
            metrics.record_task_kick_dropped(message.task_name)
            logger.error(
                "Task %s not queued, Redis unreachable (%s); its sweep will do the work",
                message.task_name,
                exc,
            )


class ReconnectingStreamBroker(StreamRecovery, RedisStreamBroker):
    """``RedisStreamBroker`` on one Redis, made to live through its restarts."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **{**connection_options(), **kwargs})
        self.listening = asyncio.Event()

    def client(self) -> AsyncRedis:
        return Redis(connection_pool=self.connection_pool)


class ReclaimingStreamClusterBroker(RedisStreamClusterBroker):
    """``RedisStreamClusterBroker`` that also takes over tasks left pending by a worker that
    died (``XAUTOCLAIM`` after ``idle_timeout`` ms), as ``RedisStreamBroker`` does and the
    cluster class of taskiq-redis 1.2.4 does not. The stream is one key, so one slot: no hash
    tag needed. No lock around the claim: ``XAUTOCLAIM`` is atomic, a message goes to one
    consumer at a time."""

    def __init__(
        self, url: str, *, idle_timeout: int, unacknowledged_batch_size: int = 100, **kwargs: Any
    ) -> None:
        super().__init__(url, **kwargs)
        self.idle_timeout = idle_timeout
        self.unacknowledged_batch_size = unacknowledged_batch_size

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        streams = [self.queue_name, *self.additional_streams]
        new_entries: dict[KeyT, StreamIdT] = {self.queue_name: ">"}
        new_entries.update(self.additional_streams.items())
        while True:
            fetched = await self.redis.xreadgroup(
                self.consumer_group_name,
                self.consumer_name,
                new_entries,
                block=self.block,
                noack=False,
                count=100,
            )
            for name, entries in cast(StreamEntries, fetched or []):
                for entry_id, fields in entries:
                    yield AckableMessage(
                        data=fields[b"data"],
                        ack=self._ack_generator(entry_id.decode(), name.decode()),
                    )
            for stream in streams:
                claimed = await self.redis.xautoclaim(
                    stream,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                for entry_id, kept in cast(ClaimedEntries, claimed)[1]:
                    if kept:  # None for an entry trimmed meanwhile
                        yield AckableMessage(
                            data=kept[b"data"], ack=self._ack_generator(entry_id.decode(), stream)
                        )


class ReconnectingStreamClusterBroker(StreamRecovery, ReclaimingStreamClusterBroker):
    """The stream broker on a Redis Cluster (the stream on its slot's master), made to live
    through a node's restart."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        kwargs.pop("unacknowledged_lock_timeout", None)  # no lock here (see the parent)
        super().__init__(url, **{**connection_options(), "xread_block": 2000, **kwargs})
        self.listening = asyncio.Event()

    def client(self) -> AsyncRedis:
        return self.redis


class ReconnectingScheduleSource(ListRedisScheduleSource):
    """``ListRedisScheduleSource`` that treats an unreachable Redis as "no schedules for now"
    with one log line per outage (taskiq logs a traceback every second), and whose writes log
    and give up instead of failing the request that scheduled: the overdue-auction sweep ends
    an auction whose one-off schedule was lost.

    Past minutes' one-offs that were not sent (the scheduler was down) are found through an
    index of the minute lists (a set), not by SCANning the whole database on every tick as
    taskiq-redis 1.2.4 does (whatever its "first run only" comment says): that walked every key
    of the database each second, and it never found anything here, since it cannot parse a
    minute key whose prefix has a colon."""

    def __init__(self, url: str, *, cluster: bool = False, **kwargs: Any) -> None:
        options = {**connection_options(), "max_connection_pool_size": POOL_SIZE, **kwargs}
        super().__init__(url, **options)
        # On a cluster every key of the source shares the prefix's hash tag (one slot), so MGET
        # and the unindexing script work there too; taskiq-redis's own cluster source SCANs
        # every node for every schedule each second instead.
        self._cluster: RedisCluster | None = None
        if cluster:
            self._cluster = redis_client(url, cluster=True, max_connections=POOL_SIZE)  # type: ignore[assignment]
        self._down_since: float | None = None
        # Minute lists written before the index existed are added once (one Redis only: a
        # cluster deployment has always had the index).
        self._indexed = cluster

    def _client(self) -> AsyncRedis:
        if self._cluster is not None:
            return self._cluster
        return Redis(connection_pool=self._connection_pool)

    def _minutes_key(self) -> str:
        return f"{self._prefix}:time-index"

    def _minute_of(self, key: str) -> datetime | None:
        try:
            stamp = key.removeprefix(f"{self._prefix}:time:")
            return datetime.strptime(stamp, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
        except ValueError:
            return None

    async def _get_previous_time_schedules(self) -> list[bytes]:
        minute_before = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        schedules: list[bytes] = []
        redis = self._client()
        if not self._indexed:
            found = [k async for k in redis.scan_iter(f"{self._prefix}:time:*", count=1000)]
            if found:
                await redis.sadd(self._minutes_key(), *found)
            self._indexed = True
        for raw in cast(set[bytes], await redis.smembers(self._minutes_key())):
            key = raw.decode()
            minute = self._minute_of(key)
            if minute is None or minute > minute_before:
                continue
            ids = await _whole_list(redis, key)
            if ids:
                schedules.extend(ids)
            else:  # all sent: no need to look at it again
                await redis.eval(_UNINDEX_IF_EMPTY, 2, self._minutes_key(), key)
        return schedules

    async def _read_schedules(self) -> list[ScheduledTask]:
        """``ListRedisScheduleSource.get_schedules`` on our client (either topology)."""
        ids = await self._get_previous_time_schedules()
        redis = self._client()
        ids += await _whole_list(redis, self._get_cron_key())
        ids += await _whole_list(redis, self._get_interval_key())
        ids += await _whole_list(redis, self._get_time_key(datetime.now(UTC)))
        raws: list[bytes | None] = []
        for start in range(0, len(ids), self._buffer_size):
            batch = ids[start : start + self._buffer_size]
            keys = [self._get_data_key(i.decode()) for i in batch]
            raws += cast(list[bytes | None], await redis.mget(keys))
        return [ScheduledTask.model_validate(self._serializer.loadb(raw)) for raw in raws if raw]

    async def get_schedules(self) -> list[ScheduledTask]:
        try:
            schedules = await self._read_schedules()
        except RETRIED_ERRORS as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                logger.warning("Schedules unreachable in Redis (%s); retrying each tick", exc)
            return []
        if self._down_since is not None:
            metrics.record_redis_reconnect("schedules")
            logger.warning(
                "Schedules reachable again after %.1f s (%d found)",
                time.monotonic() - self._down_since,
                len(schedules),
            )
            self._down_since = None
        return schedules

    async def add_schedule(self, schedule: ScheduledTask) -> None:
        """The data, then its place in the cron, interval or minute list (and the minute in
        the index): a one-off is never in a list before its data exists."""
        redis = self._client()
        try:
            await redis.set(
                self._get_data_key(schedule.schedule_id),
                self._serializer.dumpb(schedule.model_dump(mode="json")),
            )
            if schedule.cron is not None:
                await redis.rpush(self._get_cron_key(), schedule.schedule_id)
            elif schedule.time is not None:
                await redis.rpush(self._get_time_key(schedule.time), schedule.schedule_id)
                await redis.sadd(self._minutes_key(), self._get_time_key(schedule.time))
            elif schedule.interval:
                await redis.rpush(self._get_interval_key(), schedule.schedule_id)
        except RETRIED_ERRORS as exc:
            logger.error("Schedule %s not saved, Redis unreachable: %s", schedule.schedule_id, exc)

    async def delete_schedule(self, schedule_id: str) -> None:
        redis = self._client()
        try:
            raw = cast(bytes | None, await redis.getdel(self._get_data_key(schedule_id)))
            if raw is None:
                return
            schedule = ScheduledTask.model_validate(self._serializer.loadb(raw))
            if schedule.cron is not None:
                await redis.lrem(self._get_cron_key(), 0, schedule_id)
            elif schedule.time is not None:
                await redis.lrem(self._get_time_key(schedule.time), 0, schedule_id)
            elif schedule.interval:
                await redis.lrem(self._get_interval_key(), 0, schedule_id)
        except RETRIED_ERRORS as exc:
            logger.error("Schedule %s not deleted, Redis unreachable: %s", schedule_id, exc)

    async def shutdown(self) -> None:
        if self._cluster is not None:
            await self._cluster.aclose()
        await super().shutdown()
