"""Heartbeats: whether a worker or the scheduler is up, for an operator's probe and the tests.

A ``taskiq worker`` process, once it listens on the task stream, and the ``taskiq scheduler``,
once started, each keep a key alive in Redis, ``<TASK_QUEUE>:health:<role>:<host>:<pid>``:
written every ``BEAT_SECONDS`` with a ``TTL_SECONDS`` expiry, and listed in the set
``<TASK_QUEUE>:health:<role>`` (on a Redis Cluster that name is a hash tag, ``{…}``, so the set
and the keys share a slot). A clean shutdown deletes it; the key of a process that crashed
or froze expires. ``madeinpk health worker|scheduler`` reads them (``live_processes``); so does
``python -m madeinpk.redis_io.heartbeat worker|scheduler``, the same check for a probe run every few
seconds: this module imports only Redis, msgspec and the settings (0.4 s, not the 2 s of the
whole command).

Why not ask Redis who reads the stream: a stream's consumer group lists a consumer only once it
has read, so a worker that just started (or has had nothing to do) is not there. The cost is one
small pipelined write per process every couple of seconds; nothing per task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import redis
from redis.asyncio import RedisCluster

from madeinpk.redis_io.redis_topology import AsyncRedis, slot_tag, sync_redis_client
from madeinpk.settings import Settings, SettingsError

logger = logging.getLogger(__name__)

ProcessRole = Literal["worker", "scheduler"]
ROLES: tuple[ProcessRole, ...] = ("worker", "scheduler")
BEAT_SECONDS = 2.0
TTL_SECONDS = 6  # three beats: a busy event loop may be late for one
INDEX_TTL_SECONDS = 24 * 3600  # the set goes too once no process of the role has beaten for a day
STOP_TIMEOUT = 2.0
CHECK_TIMEOUT = 2.0


class Beat(msgspec.Struct, frozen=True):
    """What a live process says of itself."""

    host: str
    pid: int
    started: float  # epoch seconds, when the process started beating

    @property
    def member(self) -> str:
        return f"{self.host}:{self.pid}"


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Beat)


def index_key(prefix: str, role: ProcessRole, cluster: bool = False) -> str:
    """The role's set; each process's key is the set's name and ``:host:pid``. On a cluster
    the name is a hash tag, so the set and the keys share a slot (``live_beats`` MGETs them)."""
    return slot_tag(f"{prefix}:health:{role}", cluster)


class Heartbeat:
    """This process's beat (one asyncio task), from ``start`` (after ``ready``, if given)
    until ``stop``. Nothing stops it but ``stop``: a failed write (Redis down) is logged once
    per outage, and the next beat tries again."""

    def __init__(
        self,
        client: AsyncRedis,
        prefix: str,
        role: ProcessRole,
        ready: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self.client = client
        self.role = role
        self.index = index_key(prefix, role, isinstance(client, RedisCluster))
        self.beat = Beat(host=socket.gethostname(), pid=os.getpid(), started=time.time())
        self.key = f"{self.index}:{self.beat.member}"
        self._ready = ready
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"heartbeat-{self.role}")

    async def stop(self) -> None:
        """Stop beating and say so at once (a crash says so within ``TTL_SECONDS``)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.delete(self.key)
                    pipe.srem(self.index, self.beat.member)
                    await pipe.execute()
        except Exception as exc:
            logger.info("Heartbeat %s not removed (it expires by itself): %r", self.key, exc)

    async def _run(self) -> None:
        if self._ready is not None:
            await self._ready()
        payload = _encoder.encode(self.beat)
        while True:
            await self._beat(payload)
            await asyncio.sleep(BEAT_SECONDS)

    async def _beat(self, payload: bytes) -> None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.set(self.key, payload, ex=TTL_SECONDS)
                pipe.sadd(self.index, self.beat.member)
                pipe.expire(self.index, INDEX_TTL_SECONDS)
                await pipe.execute()
        except Exception as exc:
            if not self._failing:
                logger.warning("Heartbeat %s not written: %r", self.key, exc)
            self._failing = True
            return
        if self._failing:
            logger.warning("Heartbeat %s written again", self.key)
            self._failing = False


def live_beats(
    client: redis.Redis | redis.RedisCluster, prefix: str, role: ProcessRole
) -> list[Beat]:
    """The processes of ``role`` whose beat has not expired; members whose key expired are
    dropped from the set on the way (a live one adds itself again on its next beat)."""
    index = index_key(prefix, role, isinstance(client, redis.RedisCluster))
    members = sorted(m.decode() for m in client.smembers(index))  # type: ignore[union-attr]
    if not members:
        return []
    values: list[bytes | None] = client.mget([f"{index}:{m}" for m in members])  # type: ignore[assignment]
    gone = [m for m, value in zip(members, values, strict=True) if value is None]
    if gone:
        client.srem(index, *gone)
    return [_decoder.decode(value) for value in values if value is not None]


def live_processes(settings: Settings, role: ProcessRole) -> list[Beat]:
    """``live_beats`` on the deployment's Redis, through a connection of its own (a probe or a
    test; no event loop needed). Raises ``redis.RedisError`` if Redis does not answer."""
    if settings.redis_url is None:
        raise ValueError("No REDIS_URL: embedded, tasks run inside the app process")
    client = sync_redis_client(
        settings.redis_url,
        cluster=settings.redis_cluster,
        socket_connect_timeout=CHECK_TIMEOUT,
        socket_timeout=CHECK_TIMEOUT,
    )
    try:
        return live_beats(client, settings.task_queue, role)
    finally:
        client.close()


def probe(settings: Settings, role: ProcessRole, *, local: bool = False) -> tuple[bool, str]:
    """The health check as a probe gives it: (up, what to print). ``local``: only processes on
    this host (a container checking its own)."""
    if settings.redis_url is None:
        return False, (
            "No REDIS_URL: embedded, the worker and the scheduler run inside the app process "
            "(GET /health/ready answers for them)."
        )
    try:
        beats = live_processes(settings, role)
    except redis.RedisError as exc:
        return False, f"Redis unreachable: {exc}"
    if local:
        beats = [b for b in beats if b.host == socket.gethostname()]
    if not beats:
        return False, f"{role}: none up (no heartbeat in the last {TTL_SECONDS} s)"
    return True, "\n".join(
        f"{role}: up on {b.host}, pid {b.pid}, since "
        + datetime.fromtimestamp(b.started, UTC).isoformat(timespec="seconds")
        for b in beats
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m madeinpk.redis_io.heartbeat worker|scheduler [--local]``: 0 if up, 1 if not."""
    parser = argparse.ArgumentParser(
        prog="python -m madeinpk.redis_io.heartbeat", description=main.__doc__
    )
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--local", action="store_true", help="only processes on this host")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"Bad setting: {exc}", file=sys.stderr)
        return 1
    up, report = probe(settings, args.role, local=args.local)
    print(report, file=sys.stdout if up else sys.stderr)
    return 0 if up else 1


if __name__ == "__main__":
    sys.exit(main())
