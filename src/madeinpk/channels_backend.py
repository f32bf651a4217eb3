"""The channels backend every process of a deployment shares: Redis pub/sub reaches every app
process (and lets workers publish); memory is enough for the single embedded process."""

from __future__ import annotations

from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.asyncio import Redis

from madeinpk.settings import Settings


def channels_backend(settings: Settings) -> ChannelsBackend:
    if settings.redis_url is None:
        return MemoryChannelsBackend()
    return RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url))
