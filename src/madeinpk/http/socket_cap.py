"""A cap on the sockets one client address holds open (``MAX_SOCKETS_PER_IP``), over every app
process: one address cannot take the thousands of sockets a process can serve.

With ``REDIS_URL`` each process counts its own sockets per address in one Redis hash per address
(a field per process) and keeps a heartbeat key alive while it runs; a connect adds the counts of
live processes, atomically, so the fields of a process that was killed stop counting within
``HEARTBEAT_TTL`` seconds. Embedded (one process) the counts are in memory.

The acquire script reads the heartbeat keys of the processes it finds in the hash, keys it
cannot name in advance; on a Redis Cluster every key of the cap therefore shares one hash tag
(``{PREFIX:sockets}``), one slot: connects and disconnects all go to one master, which is
plenty for the rate sockets open at.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol, runtime_checkable

from litestar import WebSocket
from litestar.exceptions import WebSocketException

from madeinpk.http.requests import client_address
from madeinpk.http.websocket import TOO_MANY_SOCKETS_CODE
from madeinpk.redis_io.redis_topology import redis_client, slot_tag

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 10.0
HEARTBEAT_TTL = 30


@runtime_checkable  # the sockets take it as a dependency, which Litestar checks against its type
class SocketCap(Protocol):
    async def acquire(self, address: str) -> bool:
        """Count one more socket for ``address``; False (and nothing counted) at the cap."""

    async def release(self, address: str) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@asynccontextmanager
async def place_under_cap(socket: WebSocket[Any, Any, Any], cap: SocketCap) -> AsyncIterator[None]:
    """Hold one of the client address's places for the socket's life; over the cap the socket
    is accepted and closed with 4429, so the client can tell why."""
    address = client_address(socket)
    if not await cap.acquire(address):
        await socket.accept()
        raise WebSocketException(detail="Too many connections", code=TOO_MANY_SOCKETS_CODE)
    try:
        yield
    finally:
        await cap.release(address)


class MemorySocketCap:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    async def acquire(self, address: str) -> bool:
        count = self._open.get(address, 0)
        if self.limit and count >= self.limit:
            return False
        self._open[address] = count + 1
        return True

    async def release(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


# KEYS[1]: the address's hash; ARGV: this process, the cap, the heartbeat key prefix. The
# heartbeat keys are read by name: on a cluster they share KEYS[1]'s slot (the hash tag).
_ACQUIRE = """
local fields = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 1, #fields, 2 do
  if fields[i] == ARGV[1] or redis.call('EXISTS', ARGV[3] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
if tonumber(ARGV[2]) > 0 and total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""
_RELEASE = """
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
"""


class RedisSocketCap:
    """Counts every app process shares. If Redis cannot be asked, the socket is let in (and
    not counted): an outage must not lock every watcher out."""

    def __init__(self, url: str, limit: int, prefix: str, *, cluster: bool = False) -> None:
        self.limit = limit
        self.process = uuid.uuid4().hex[:12]
        self.prefix = slot_tag(f"{prefix}:sockets", cluster)
        self._redis = redis_client(url, cluster=cluster, tuned=False)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._release = self._redis.register_script(_RELEASE)
        self._counted: dict[str, int] = {}
        self._heartbeat: asyncio.Task[None] | None = None

    def _key(self, address: str) -> str:
        return f"{self.prefix}:ip:{address}"

    async def acquire(self, address: str) -> bool:
        try:
            allowed = await self._acquire(
                keys=[self._key(address)],
                args=[self.process, self.limit, f"{self.prefix}:process:"],
            )
        except Exception as exc:
            logger.warning("Socket cap not checked (%s); letting the socket in", exc)
            return True
        if allowed:
            self._counted[address] = self._counted.get(address, 0) + 1
        return bool(allowed)

    async def release(self, address: str) -> None:
        count = self._counted.get(address, 0)
        if count <= 0:
            return  # let in uncounted while Redis was away
        if count == 1:
            del self._counted[address]
        else:
            self._counted[address] = count - 1
        try:
            await self._release(keys=[self._key(address)], args=[self.process])
        except Exception as exc:
            logger.warning("Socket of %s not uncounted (%s)", address, exc)

    async def start(self) -> None:
        await self._beat()
        self._heartbeat = asyncio.create_task(self._beat_forever())

    async def _beat(self) -> None:
        try:
            await self._redis.set(f"{self.prefix}:process:{self.process}", 1, ex=HEARTBEAT_TTL)
        except Exception as exc:
            logger.warning("Socket cap heartbeat not written (%s)", exc)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            await self._beat()

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        try:
            await self._redis.delete(f"{self.prefix}:process:{self.process}")
        except Exception:
            logger.debug("Socket cap heartbeat not removed", exc_info=True)
        await self._redis.aclose()


def socket_cap(
    redis_url: str | None, limit: int, prefix: str, *, cluster: bool = False
) -> SocketCap:
    if redis_url is None or limit == 0:
        return MemorySocketCap(limit)
    return RedisSocketCap(redis_url, limit, prefix, cluster=cluster)
