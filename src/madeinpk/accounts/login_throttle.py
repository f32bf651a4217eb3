"""Login throttling: a password guesser gets a few tries, then a 429 with ``Retry-After``.

Two budgets of failed logins, each a fixed window (``LOGIN_FAILURE_WINDOW``) opened by the
first failure:

- per account *and* client address (``LOGIN_FAILURES_PER_ACCOUNT``): locks out whoever guesses
  at one account, while its owner, signing in from elsewhere, is not locked out by them;
- per client address (``LOGIN_FAILURES_PER_IP``, larger): bounds one address guessing across
  many accounts. This is the only way other people's failures can block a correct password:
  when they share its address (a NAT) and spend the whole budget.

An attempt reserves its place in both budgets before the password is checked, atomically, so
parallel requests cannot slip past a limit; one that turns out not to be a failure (a correct
password, a malformed request) gives its place back, and a correct password also clears the
account's count. Counters live in Redis when ``REDIS_URL`` is set, so every app process shares
them, and in this process's memory on the embedded topology. On a Redis Cluster both keys of an
attempt carry the client address as a hash tag, so the scripts that touch both run on one slot.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Protocol

from madeinpk.http.errors import Throttled
from madeinpk.redis_io.redis_topology import redis_client
from madeinpk.settings import Settings


class FailureCounters(Protocol):
    async def reserve(self, limits: list[tuple[str, int]], window: int) -> int:
        """Add one to every key unless one is at its limit; 0, or the seconds until the
        blocking key's window ends (nothing is added then)."""

    async def release(self, keys: list[str]) -> None:
        """Take back one reserved attempt from each key that still counts."""

    async def clear(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryCounters:
    """One process's counters; the embedded topology has only one process."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, window end, monotonic)

    def _current(self, key: str, now: float) -> tuple[int, float] | None:
        entry = self._counts.get(key)
        if entry is not None and entry[1] <= now:
            del self._counts[key]
            return None
        return entry

    async def reserve(self, limits: list[tuple[str, int]], window: int) -> int:
        now = time.monotonic()
        if len(self._counts) > 100_000:  # forget closed windows now and then
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        wait = 0
        for key, limit in limits:
            entry = self._current(key, now)
            if entry is not None and entry[0] >= limit:
                wait = max(wait, math.ceil(entry[1] - now))
        if wait:
            return wait
        for key, _ in limits:
            count, ends = self._current(key, now) or (0, now + window)
            self._counts[key] = (count + 1, ends)
        return 0

    async def release(self, keys: list[str]) -> None:
        now = time.monotonic()
        for key in keys:
            entry = self._current(key, now)
            if entry is not None and entry[0] > 0:
                self._counts[key] = (entry[0] - 1, entry[1])

    async def clear(self, key: str) -> None:
        self._counts.pop(key, None)

    async def close(self) -> None:
        self._counts.clear()


# Each script runs atomically in Redis: no other attempt can interleave between its reads and
# its writes. KEYS are the counters; ARGV[1] the window, ARGV[i + 1] the limit of KEYS[i].
_RESERVE = """
local wait = 0
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 1 then
      redis.call('EXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    wait = math.max(wait, ttl)
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 0
"""
_RELEASE = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
"""


class RedisCounters:
    """Counters every app process shares; each expires with its window."""

    def __init__(self, url: str, *, cluster: bool = False) -> None:
        self._redis = redis_client(url, cluster=cluster, tuned=False)
        self._reserve = self._redis.register_script(_RESERVE)
        self._release = self._redis.register_script(_RELEASE)

    async def reserve(self, limits: list[tuple[str, int]], window: int) -> int:
        keys = [key for key, _ in limits]
        return int(await self._reserve(keys=keys, args=[window, *(n for _, n in limits)]))

    async def release(self, keys: list[str]) -> None:
        await self._release(keys=keys)

    async def clear(self, key: str) -> None:
        await self._redis.delete(key)

    async def close(self) -> None:
        await self._redis.aclose()


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    account_key: str
    address_key: str


class LoginThrottle:
    def __init__(
        self,
        counters: FailureCounters,
        *,
        per_account: int,
        per_address: int,
        window: int,
        prefix: str,
        cluster: bool = False,
    ) -> None:
        self.counters = counters
        self.cluster = cluster
        self.per_account, self.per_address, self.window = per_account, per_address, window
        self.prefix = f"{prefix}:login-failures"

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        counters: FailureCounters = (
            MemoryCounters()
            if settings.redis_url is None
            else RedisCounters(settings.redis_url, cluster=settings.redis_cluster)
        )
        return cls(
            counters,
            per_account=settings.login_failures_per_account,
            per_address=settings.login_failures_per_ip,
            window=settings.login_failure_window,
            prefix=settings.redis_key_prefix,
            cluster=settings.redis_cluster,
        )

    async def attempt(self, email: str, address: str) -> LoginAttempt:
        """Reserve one try, or raise ``Throttled`` (nothing is counted then)."""
        # Hashed: addresses typed at the login form are nobody's business in Redis.
        account = hashlib.sha256(f"{email.strip().lower()}\n{address}".encode()).hexdigest()
        if self.cluster:  # one slot per address: the scripts touch both keys
            tagged = f"{self.prefix}:{{{address}}}"
            attempt = LoginAttempt(f"{tagged}:account:{account}", f"{tagged}:ip")
        else:
            attempt = LoginAttempt(
                f"{self.prefix}:account:{account}", f"{self.prefix}:ip:{address}"
            )
        wait = await self.counters.reserve(
            [(attempt.account_key, self.per_account), (attempt.address_key, self.per_address)],
            self.window,
        )
        if wait:
            raise Throttled(wait)
        return attempt

    async def succeeded(self, attempt: LoginAttempt) -> None:
        """The right password: the account starts afresh; the address keeps its other failures."""
        await self.counters.clear(attempt.account_key)
        await self.counters.release([attempt.address_key])

    async def not_a_failure(self, attempt: LoginAttempt) -> None:
        """Refused for another reason than a wrong password (a blank field, a blocked user)."""
        await self.counters.release([attempt.account_key, attempt.address_key])

    async def close(self) -> None:
        await self.counters.close()
