"""Per-user bid rate limit (``BID_RATE_LIMIT`` bids per second), shared by REST and WebSocket."""

from __future__ import annotations

import time


class BidRateLimiter:
    """A fixed one-second window per user. It lives in the app process: with N app processes a
    user who spreads bids over all of them could reach N times the limit."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._windows: dict[int, tuple[int, int]] = {}  # user id -> (second, bids in it)

    def allow(self, user_id: int) -> bool:
        now = int(time.monotonic())
        second, count = self._windows.get(user_id, (now, 0))
        if second != now:
            second, count = now, 0
            if len(self._windows) > 10_000:  # forget users idle for a second or more
                self._windows = {u: w for u, w in self._windows.items() if w[0] == now}
        if count >= self.per_second:
            return False
        self._windows[user_id] = (second, count + 1)
        return True
