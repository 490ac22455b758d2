"""The simulated account: each key's rate window and the one credit balance.

Both are shared by every request the simulator answers, as a real account's would be:
studios with the same configuration share one simulator, and so one account.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

from ..models import MAX_SEED
from .config import SimulatorConfig

__all__ = ["Account", "RateLimiter", "RateWindow"]


@dataclass(frozen=True)
class RateWindow:
    """One key's rate window as the `X-RateLimit-*` headers report it."""

    limit: int
    remaining: int
    reset: float
    allowed: bool

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.reset - now))


class RateLimiter:
    """Fixed windows per key: a window opens at a key's first request and lasts
    `window_s`; at most `limit` requests are allowed in it."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, now: float) -> RateWindow:
        """Count one request for `key` (unless it is refused) and report the window."""
        with self._lock:
            start, count = self._current(key, now)
            allowed = count < self.limit
            if allowed:
                count += 1
                self._windows[key] = (start, count)
            return RateWindow(self.limit, self.limit - count, start + self.window_s, allowed)

    def peek(self, key: str, now: float) -> RateWindow:
        """Report the window of `key` without counting a request."""
        with self._lock:
            start, count = self._current(key, now)
            return RateWindow(self.limit, self.limit - count, start + self.window_s, True)

    def _current(self, key: str, now: float) -> tuple[float, int]:
        start, count = self._windows.get(key, (now, 0))
        if now >= start + self.window_s:
            start, count = now, 0
        if len(self._windows) > 10_000:
            # Many one-off keys (random wrong tokens): forget windows that have ended.
            self._windows = {k: v for k, v in self._windows.items()
                             if now < v[0] + self.window_s}
        return start, count


class Account:
    """The simulated balance and the fault-injection dice, shared by all requests."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._balance = config.starting_balance
        self._generations = 0
        self._random = random.Random(config.random_seed)

    @property
    def balance(self) -> float:
        with self._lock:
            return round(self._balance, 4)

    def reserve(self, cost: float) -> bool:
        """Take `cost` from the balance if it is there (given back by `refund`)."""
        with self._lock:
            # A hair of tolerance so that float sums never refuse an exact last video.
            if cost > self._balance + 1e-9:
                return False
            self._balance -= cost
            return True

    def refund(self, cost: float) -> None:
        with self._lock:
            self._balance += cost

    def next_generation(self, seconds: int) -> tuple[bool, float, int]:
        """(fails, latency in seconds, random seed) for the next generation."""
        with self._lock:
            self._generations += 1
            fails = (self._generations <= self._config.fail_first
                     or self._random.random() < self._config.failure_rate)
            low, high = self._config.latency
            latency = self._random.uniform(low, high) * seconds / 5
            return fails, latency, self._random.randint(0, MAX_SEED)
