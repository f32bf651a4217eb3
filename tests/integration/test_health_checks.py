"""The worker's and the scheduler's health check (``madeinpk health worker|scheduler``, and the
same in ``python -m madeinpk.redis_io.heartbeat``): false before the process is up, true once it
is, false again once it is gone.
The test harness waits on this check too (``TaskProcess.start``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis

from madeinpk.redis_io.heartbeat import ROLES, TTL_SECONDS, Heartbeat, ProcessRole, live_beats
from tests.integration.conftest import TaskProcess, scheduler_process, worker_process

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="production topology only (workers need Redis)"
)
PROCESSES: dict[ProcessRole, Callable[[dict[str, str], Path], TaskProcess]] = {
    "worker": worker_process,
    "scheduler": scheduler_process,
}


def health(
    env: dict[str, str], role: ProcessRole, *, light: bool
) -> subprocess.CompletedProcess[str]:
    """The check as an operator runs it: ``madeinpk health`` or the light module."""
    command = ["madeinpk.redis_io.heartbeat"] if light else ["madeinpk", "health"]
    return subprocess.run(
        [sys.executable, "-m", *command, role],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def private_queue(test_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A queue (and key prefix) of its own: the session's worker and scheduler beat elsewhere."""
    queue = f"madeinpk-health-{uuid.uuid4().hex[:8]}"
    yield {**test_env, "TASK_QUEUE": queue, "REDIS_KEY_PREFIX": queue}
    client = redis.Redis.from_url(test_env["REDIS_URL"])
    try:
        keys = list(client.scan_iter(f"{queue}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@needs_redis
def test_up_only_while_the_process_runs(private_queue: dict[str, str], tmp_path: Path) -> None:
    """Both roles at once: their beats expire in the same few seconds, so one wait covers both."""
    processes = {role: PROCESSES[role](private_queue, tmp_path / f"{role}.log") for role in ROLES}
    for role, process in processes.items():
        assert not process.up()
        before = health(private_queue, role, light=True)
        assert before.returncode == 1 and f"{role}: none up" in before.stderr
    try:
        for role, process in processes.items():
            process.start()  # returns once the check says up
            assert process.up()
            up = health(private_queue, role, light=False)
            assert up.returncode == 0, up.stdout + up.stderr
            assert f"{role}: up on" in up.stdout
    finally:
        for process in processes.values():
            process.stop()  # SIGKILL, as a crash: no goodbye, the beat expires
    killed = time.monotonic()
    for role, process in processes.items():
        while process.up():
            assert time.monotonic() - killed < TTL_SECONDS + 2, (
                f"the {role}'s beat outlived its TTL"
            )
            time.sleep(0.1)
        assert health(private_queue, role, light=True).returncode == 1


def test_embedded_there_is_nothing_to_ask(test_env: dict[str, str]) -> None:
    """Without Redis the worker and the scheduler live inside the app: the check says so."""
    env = {k: v for k, v in test_env.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "madeinpk", "health", "worker"],
        env={k: v for k, v in {**os.environ, **env}.items() if k != "REDIS_URL"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "No REDIS_URL" in result.stderr


@pytest.fixture
async def beat_client(test_env: dict[str, str]) -> AsyncIterator[tuple[Redis, redis.Redis, str]]:
    """(async client, sync client, a prefix of its own) on the suite's Redis."""
    url = test_env["REDIS_URL"]
    prefix = f"madeinpk-beat-{uuid.uuid4().hex[:8]}"
    async with Redis.from_url(url) as client:
        sync = redis.Redis.from_url(url)
        try:
            yield client, sync, prefix
        finally:
            keys = list(sync.scan_iter(f"{prefix}*"))
            if keys:
                sync.delete(*keys)
            sync.close()


@needs_redis
async def test_a_heartbeat_starts_when_ready_and_a_clean_stop_removes_it(
    beat_client: tuple[Redis, redis.Redis, str],
) -> None:
    client, sync, prefix = beat_client
    ready = asyncio.Event()
    heartbeat = Heartbeat(client, prefix, "worker", ready=ready.wait)
    heartbeat.start()
    try:
        await asyncio.sleep(0.3)
        assert live_beats(sync, prefix, "worker") == [], "no beat before the process is ready"
        ready.set()
        for _ in range(50):
            if live_beats(sync, prefix, "worker"):
                break
            await asyncio.sleep(0.05)
        [beat] = live_beats(sync, prefix, "worker")
        assert (beat.pid, beat.member) == (os.getpid(), heartbeat.beat.member)
        assert 0 < sync.ttl(heartbeat.key) <= TTL_SECONDS
        assert live_beats(sync, prefix, "scheduler") == []
    finally:
        await heartbeat.stop()
    assert live_beats(sync, prefix, "worker") == []
    assert not sync.exists(heartbeat.key)


@needs_redis
def test_an_expired_beat_leaves_the_index(beat_client: tuple[Redis, redis.Redis, str]) -> None:
    _, sync, prefix = beat_client
    index = f"{prefix}:health:worker"
    sync.sadd(index, "gone-host:1", "live-host:2")
    sync.set(f"{index}:live-host:2", b'{"host":"live-host","pid":2,"started":1.0}', ex=5)
    assert [b.member for b in live_beats(sync, prefix, "worker")] == ["live-host:2"]
    assert sync.smembers(index) == {b"live-host:2"}
