"""Per-user bid rate limit (``BID_RATE_LIMIT`` bids per second), shared by REST and WebSocket."""

from __future__ import annotations

import time


class BidRateLimiter:
    """A token bucket per user: ``per_second`` bids at once, refilled at ``per_second`` a
    second, so a burst is cut off wherever it falls (a fixed one-second window lets twice the
    limit through across its boundary). It lives in the app process: with N app processes a user
    who spreads bids over all of them could reach N times the limit."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._buckets: dict[int, tuple[float, float]] = {}  # user id -> (tokens, updated at)

    def allow(self, user_id: int) -> bool:
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
