"""Login keys resolved for sockets, remembered for at most a second.

A connect storm (a page reloaded in many tabs, every watcher of a stopped process coming back)
presents the same keys again and again; each is looked up once per ``ttl`` and concurrent
lookups of one key share a query. A logout, an expired key or a deactivated user therefore
takes effect within ``ttl`` in every process (at once in the process that logged out), and a
block needs no cache rule at all: the bid path reads it from the database under the auction's
row lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from madeinpk.accounts.auth import resolve_token
from madeinpk.http.auth import Account

TTL = 1.0
MAX_KEYS = 50_000

Resolver = Callable[[str], Awaitable[Account | None]]


class TokenCache:
    def __init__(self, ttl: float = TTL, resolve: Resolver = resolve_token) -> None:
        self.ttl = ttl
        self._resolve = resolve
        self._known: dict[str, tuple[float, Account | None]] = {}
        self._asking: dict[str, asyncio.Task[Account | None]] = {}

    async def account(self, key: str) -> Account | None:
        known = self._known.get(key)
        if known is not None and known[0] > time.monotonic():
            return known[1]
        task = self._asking.get(key)
        if task is None:
            task = self._asking[key] = asyncio.create_task(self._ask(key))
        return await asyncio.shield(task)

    async def _ask(self, key: str) -> Account | None:
        try:
            account = await self._resolve(key)
        finally:
            del self._asking[key]
        now = time.monotonic()
        if len(self._known) >= MAX_KEYS:
            self._known = {k: v for k, v in self._known.items() if v[0] > now}
            if len(self._known) >= MAX_KEYS:
                self._known.clear()
        self._known[key] = (now + self.ttl, account)
        return account

    def forget(self, key: str) -> None:
        """A logout in this process: no second of grace here."""
        self._known.pop(key, None)
