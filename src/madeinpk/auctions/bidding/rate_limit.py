"""Per-user bid rate limit (``BID_RATE_LIMIT`` bids per second, 0 for none), for REST and sockets.

A token bucket per user: ``per_second`` bids at once, refilled at ``per_second`` a second, so a
burst is cut off wherever it falls (a fixed one-second window lets twice the limit through across
its boundary). With ``REDIS_URL`` the bucket lives in Redis, so a user who spreads bids over
every app process still gets ``per_second`` in all; embedded (one process) it lives in memory.
On a Redis Cluster a bucket is one key, so its script runs on that key's master: no hash tag.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, runtime_checkable

from madeinpk.redis_io.redis_topology import redis_client

logger = logging.getLogger(__name__)


@runtime_checkable  # a request dependency: Litestar checks its type
class BidRateLimiter(Protocol):
    async def allow(self, user_id: int) -> bool: ...

    async def close(self) -> None: ...


class NoBidRateLimit:
    """``BID_RATE_LIMIT=0``: no limit, and no round trip to ask for one (benchmarks, trusted
    load tests)."""

    async def allow(self, user_id: int) -> bool:
        return True

    async def close(self) -> None:
        return None


class MemoryBidRateLimiter:
    """The buckets of the one embedded process."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._buckets: dict[int, tuple[float, float]] = {}  # user id -> (tokens, updated at)

    async def allow(self, user_id: int) -> bool:
        now = time.monotonic()
        tokens, updated = self._buckets.get(user_id, (float(self.per_second), now))
        tokens = min(float(self.per_second), tokens + (now - updated) * self.per_second)
        if len(self._buckets) > 10_000:  # forget users whose bucket is full again
            self._buckets = {
                u: b
                for u, b in self._buckets.items()
                if b[0] + (now - b[1]) * self.per_second < self.per_second
            }
        if tokens < 1:
            self._buckets[user_id] = (tokens, now)
            return False
        self._buckets[user_id] = (tokens - 1, now)
        return True

    async def close(self) -> None:
        return None


# One round trip, atomic, on Redis's clock (the app processes' clocks need not agree). A bucket
# that would be full again by the time it expires needs no key.
_TAKE = """
local rate = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(saved[1]) or rate
local at = tonumber(saved[2]) or now
tokens = math.min(rate, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], 2)
return allowed
"""


class RedisBidRateLimiter:
    """Buckets every app process shares. If Redis cannot be asked, the bid is let through (the
    database still decides it): a Redis outage must not stop the bidding."""

    def __init__(self, url: str, per_second: int, prefix: str, *, cluster: bool = False) -> None:
        self.per_second = per_second
        self.prefix = f"{prefix}:bid-rate"
        self._redis = redis_client(url, cluster=cluster, tuned=False)
        self._take = self._redis.register_script(_TAKE)

    async def allow(self, user_id: int) -> bool:
        try:
            return bool(await self._take(keys=[f"{self.prefix}:{user_id}"], args=[self.per_second]))
        except Exception as exc:
            logger.warning("Bid rate limit not checked (%s); letting the bid through", exc)
            return True

    async def close(self) -> None:
        await self._redis.aclose()


def bid_rate_limiter(
    redis_url: str | None, per_second: int, prefix: str, *, cluster: bool = False
) -> BidRateLimiter:
    if per_second == 0:
        return NoBidRateLimit()
    if redis_url is None:
        return MemoryBidRateLimiter(per_second)
    return RedisBidRateLimiter(redis_url, per_second, prefix, cluster=cluster)
