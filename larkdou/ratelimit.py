"""Async, fair rate limiters, shared infrastructure: the Open API's (one for the app, one per chat)
and the LLM's requests per minute.

Each caller reserves the next free slot the moment it asks (first come, first served) and sleeps
until that slot, so concurrent callers go out evenly spaced and in arrival order. Slots are spaced
a little wider than 1/rate (`HEADROOM`) so that network jitter does not push two calls into the same
window of Lark's counter. A rate-limit answer from Lark pushes all later slots back (`pause`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from typing import Awaitable, Callable

HEADROOM = 0.9  # run at 90% of the configured rate

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """At most `rate` calls per second, spaced evenly, granted in the order they were asked for;
    optionally also at most `per_minute` calls in any 60 s (Lark: 50/s and 1000/min per app)."""

    def __init__(self, rate: float, *, per_minute: int = 0, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep):
        if rate <= 0 or per_minute < 0:
            raise ValueError("rate must be positive and per_minute not negative")
        self.rate = rate
        self._interval = 1.0 / (rate * HEADROOM)
        self._per_minute = int(per_minute * HEADROOM) if per_minute else 0
        self._recent: deque[float] = deque(maxlen=self._per_minute or 1)  # the last granted slots
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")  # the earliest free slot
        self._last_grant: asyncio.Event | None = None  # set once the latest caller is let through

    def reserve(self) -> float:
        """Take the next slot now; returns how long to wait for it (seconds)."""
        now = self._clock()
        slot = max(now, self._next)
        if self._per_minute and len(self._recent) == self._per_minute:
            slot = max(slot, self._recent[0] + 60.0)
        self._recent.append(slot)
        self._next = slot + self._interval
        return slot - now

    async def acquire(self) -> None:
        """Wait for this caller's slot, and for every earlier caller to have been let through.

        Sleeping for the slot alone does not keep the order: a caller held up for a moment
        between `reserve` and its sleep (a busy loop, a collection) wakes after the next caller,
        whose slot is only 1/rate later. So each caller also waits for the one before it."""
        delay = self.reserve()
        before, granted = self._last_grant, asyncio.Event()
        self._last_grant = granted
        try:
            if delay > 0:
                await self._sleep(delay)
            if before is not None:
                await before.wait()
        finally:
            granted.set()  # a caller that gives up (cancelled) does not hold back the rest

    def pause(self, seconds: float) -> None:
        """Grant no slot for the next `seconds` (Lark said: wait this long)."""
        self._next = max(self._next, self._clock() + seconds)

    @property
    def idle(self) -> bool:
        """True when nobody holds a future slot (the limiter can be forgotten)."""
        return self._clock() >= self._next


class KeyedRateLimiter:
    """One `RateLimiter` per key (e.g. chat_id); idle ones are forgotten once there are many."""

    def __init__(self, rate: float, *, max_keys: int = 1024, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep):
        self.rate = rate
        self._max_keys = max_keys
        self._clock = clock
        self._sleep = sleep
        self._limiters: OrderedDict[str, RateLimiter] = OrderedDict()

    def get(self, key: str) -> RateLimiter:
        """The limiter of `key`, created on first use."""
        limiter = self._limiters.get(key)
        if limiter is None:
            if len(self._limiters) >= self._max_keys:
                self._forget_idle()
            limiter = RateLimiter(self.rate, clock=self._clock, sleep=self._sleep)
            self._limiters[key] = limiter
        else:
            self._limiters.move_to_end(key)
        return limiter

    async def acquire(self, key: str) -> None:
        await self.get(key).acquire()

    def pause(self, key: str, seconds: float) -> None:
        self.get(key).pause(seconds)

    def __len__(self) -> int:
        return len(self._limiters)

    def _forget_idle(self) -> None:
        for key in [k for k, lim in self._limiters.items() if lim.idle]:
            del self._limiters[key]
