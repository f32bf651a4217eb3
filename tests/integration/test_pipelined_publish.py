"""The channels plugin's publisher sends what is queued in one Redis pipeline, in order, and a
Redis that is away drops the batch with a warning instead of killing the publisher."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest
from redis.asyncio import Redis

from madeinpk.redis_io.channels_backend import channels_plugin
from madeinpk.redis_io.redis_channels import ReconnectingPubSubBackend
from tests.integration.conftest import free_port

REDIS_URL = os.environ.get("REDIS_URL")
pytestmark = pytest.mark.skipif(REDIS_URL is None, reason="production topology (Redis) only")


async def test_queued_events_arrive_in_order_on_every_channel() -> None:
    assert REDIS_URL is not None
    prefix = f"pipelined-{os.getpid()}-{id(object())}"
    plugin = channels_plugin(ReconnectingPubSubBackend(redis=Redis.from_url(REDIS_URL)))
    async with plugin:
        first, second = f"{prefix}:a", f"{prefix}:b"
        subscriber = await plugin.subscribe([first, second])
        await asyncio.sleep(0.1)
        # Queued in one turn of the loop: the publisher takes them as one batch.
        for n in range(300):
            plugin.publish(str(n).encode(), [first] if n % 3 else [first, second])
        got: list[bytes] = []
        async with asyncio.timeout(10):
            async for message in subscriber.iter_events():
                got.append(message)
                if len(got) == 300 + 100:
                    break
        await plugin.unsubscribe(subscriber)
    expected = [str(n).encode() for n in range(300) for _ in range(1 if n % 3 else 2)]
    # One subscriber on both channels: each message once per channel, in the order published.
    assert got == expected


async def test_a_batch_redis_cannot_take_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    backend = ReconnectingPubSubBackend(redis=dead)
    with caplog.at_level(logging.WARNING):
        await backend.publish_many([(b"1", ["x"]), (b"2", ["x", "y"])])
        await backend.publish_many([(b"3", ["x"])])  # within the pause: dropped at once
    assert "Redis unreachable; 2 events dropped" in caplog.text
    await dead.aclose()
