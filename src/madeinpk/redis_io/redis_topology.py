"""The one place a Redis client is built, for the deployment's topology: one Redis server
(``REDIS_URL``), or a Redis Cluster (``REDIS_CLUSTER=true``, ``REDIS_URL`` naming any one node,
the seed from which the client learns the others and the slot map).

On a cluster, a command's keys must all hash to one slot, and so must the keys a Lua script
touches. The key families that are read or written together carry a hash tag (``slot_tag``), so
that each family's keys share a slot there; on one Redis the names stay as they always were.
See docs/scaling.md, "Redis Cluster", for every key and channel family and its tag.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

AsyncRedis = Redis | RedisCluster


def connection_options() -> dict[str, Any]:
    """Fail fast while Redis (or a node) is down, since our own loops do the patient retrying;
    notice a dead peer (keepalive, health checks); heal a stale pooled connection after a
    restart with a few quick retries."""
    return {
        "socket_connect_timeout": 2,
        "socket_keepalive": True,
        "health_check_interval": 15,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=3),
    }


def redis_client(url: str, *, cluster: bool, tuned: bool = True, **options: Any) -> AsyncRedis:
    """An asyncio client for ``url``: a ``RedisCluster`` (routing each command to its slot's
    master, following MOVED and re-reading the slot map after a failover) or a plain ``Redis``.
    ``tuned``: with ``connection_options``; otherwise redis-py's defaults (the counters that
    fail open on any error keep them)."""
    merged = {**(connection_options() if tuned else {}), **options}
    if cluster:
        return RedisCluster.from_url(url, **merged)
    return Redis.from_url(url, **merged)


def sync_redis_client(
    url: str, *, cluster: bool, **options: Any
) -> redis.Redis | redis.RedisCluster:
    """The blocking twin, for probes and commands that run without an event loop."""
    if cluster:
        return redis.RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def slot_tag(name: str, cluster: bool) -> str:
    """``{name}`` on a cluster: every key that begins with it hashes to the same slot (Redis
    hashes only what is inside the first braces), so one script or transaction may touch them
    all. On one Redis the name is left as it was."""
    return f"{{{name}}}" if cluster else name
