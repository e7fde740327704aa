"""Exponential backoff with jitter, for every retry loop in larkdou."""

from __future__ import annotations

import asyncio
import random


class Backoff:
    """`first` seconds, doubling up to `cap`, each ±25% jitter; `reset()` after a success."""

    def __init__(self, first: float = 0.2, cap: float = 10.0):
        self.first, self.cap = first, cap
        self.failures = 0

    def delay(self) -> float:
        base = min(self.cap, self.first * (2 ** self.failures))
        self.failures += 1
        return base * random.uniform(0.75, 1.25)

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay())

    def reset(self) -> None:
        self.failures = 0
