"""The channels backend every process of a deployment shares: Redis pub/sub reaches every app
process (and lets workers publish), reconnecting and resubscribing by itself
(``madeinpk.redis_channels``); memory is enough for the single embedded process."""

from __future__ import annotations

from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend

from madeinpk.redis_channels import ReconnectingPubSubBackend, redis_client
from madeinpk.settings import Settings


def channels_backend(settings: Settings) -> ChannelsBackend:
    if settings.redis_url is None:
        return MemoryChannelsBackend()
    return ReconnectingPubSubBackend(redis=redis_client(settings.redis_url))
