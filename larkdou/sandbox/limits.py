"""Rate limits and injected faults of the sandbox's Open API.

Lark limits each API per app (50/s) and sends/replies per chat (5 QPS). A refused call carries
`x-ogw-ratelimit-reset`, the whole seconds until a call would pass (reference §4.7). Token buckets
give exactly that: `rate` calls at once, then `rate` per second.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field


class TokenBucket:
    """`rate` calls per second with a burst of max(1, rate)."""

    def __init__(self, rate: float, now: float):
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = now

    def take(self, now: float) -> float:
        """Spend one call; returns 0 if allowed, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimits:
    """Buckets per (kind, key), re-created when the configured rate changes."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def take(self, kind: str, key: str, rate: float) -> float:
        now = time.monotonic()
        bucket = self._buckets.get((kind, key))
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[(kind, key)] = TokenBucket(rate, now)
        return bucket.take(now)

    def clear(self) -> None:
        self._buckets.clear()


def reset_header(wait: float) -> str:
    """`x-ogw-ratelimit-reset`: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait)))


@dataclass
class Faults:
    """Faults applied to every Open API call (`POST /sandbox/faults`)."""

    latency_ms: float = 0.0
    error_rate: float = 0.0  # share of calls answered with `error_status`
    error_status: int = 500
    error_count: int = 0  # the next N calls fail, whatever `error_rate` says
    rate_limited_until: float = 0.0  # monotonic time
    refuse_cards: bool = False  # every card sent, replied or updated is refused (230099), as Lark may
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def rate_limit_wait(self) -> float:
        return max(0.0, self.rate_limited_until - time.monotonic())

    def should_fail(self) -> bool:
        if self.error_count > 0:
            self.error_count -= 1
            return True
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    def describe(self) -> dict[str, object]:
        return {"latency_ms": self.latency_ms, "error_rate": self.error_rate,
                "error_status": self.error_status, "error_count": self.error_count,
                "rate_limited_for": round(self.rate_limit_wait(), 3), "refuse_cards": self.refuse_cards}
