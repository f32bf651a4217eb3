"""The channels backend every process of a deployment shares: Redis pub/sub reaches every app
process (and lets workers publish), reconnecting and resubscribing by itself
(``madeinpk.redis_io.redis_channels``); on a Redis Cluster, sharded pub/sub, each channel on its
slot's master (``madeinpk.redis_io.cluster_channels``);
memory is enough for the single embedded process."""

from __future__ import annotations

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
