"""The channels backend every process of a deployment shares: Redis pub/sub reaches every app
process (and lets workers publish), reconnecting and resubscribing by itself
(``madeinpk.redis_io.redis_channels``); on a Redis Cluster, sharded pub/sub, each channel on its
slot's master (``madeinpk.redis_io.cluster_channels``);
memory is enough for the single embedded process."""

from __future__ import annotations

import asyncio

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from redis.asyncio import RedisCluster

from madeinpk.redis_io.cluster_channels import ShardedPubSubBackend
from madeinpk.redis_io.redis_channels import ReconnectingPubSubBackend
from madeinpk.redis_io.redis_topology import redis_client
from madeinpk.settings import Settings

#: The backends that talk to Redis: they may break, reconnect, and report interrupted channels.
RedisBackend = ReconnectingPubSubBackend | ShardedPubSubBackend


def channels_backend(settings: Settings) -> ChannelsBackend:
    if settings.redis_url is None:
        return MemoryChannelsBackend()
    client = redis_client(settings.redis_url, cluster=settings.redis_cluster)
    if isinstance(client, RedisCluster):
        return ShardedPubSubBackend(cluster=client)
    return ReconnectingPubSubBackend(redis=client)


# How many queued publishes go to Redis in one round trip at most.
PUBLISH_BATCH = 256


class PipelinedChannelsPlugin(ChannelsPlugin):
    """Litestar's plugin publishes what is queued one message at a time, a round trip each, so a
    busy process's events (and the bids it forwards to an auction's owner) queued behind each
    other for seconds. This one sends everything queued in one pipeline, in order, when the
    backend can (one Redis); otherwise one at a time as before."""

    async def _pub_worker(self) -> None:
        publish_many = getattr(self._backend, "publish_many", None)
        while self._pub_queue:
            queue: asyncio.Queue[tuple[bytes, list[str]]] = self._pub_queue
            items = [await queue.get()]
            while len(items) < PUBLISH_BATCH and not queue.empty():
                items.append(queue.get_nowait())
            if publish_many is not None and len(items) > 1:
                await publish_many(items)
            else:
                for data, channels in items:
                    await self._backend.publish(data, channels)
            for _ in items:
                queue.task_done()


def channels_plugin(backend: ChannelsBackend) -> ChannelsPlugin:
    return PipelinedChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)
