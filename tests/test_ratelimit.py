"""Rate limiters: even spacing, arrival order, per-key independence, pauses from Lark."""

from __future__ import annotations

import asyncio

from larkdou.ratelimit import KeyedRateLimiter, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def max_in_any_second(times: list[float]) -> int:
    return max(sum(1 for u in times if t <= u < t + 1.0) for t in times)


def slots(limiter: RateLimiter, clock: Clock, n: int) -> list[float]:
    return [clock.now + limiter.reserve() for _ in range(n)]


def test_burst_is_spread_to_at_most_rate_per_second() -> None:
    clock = Clock()
    limiter = RateLimiter(5, clock=clock)
    times = slots(limiter, clock, 40)
    assert times[0] == 0.0
    assert times == sorted(times)
    assert max_in_any_second(times) <= 5
    # and it does use the rate: 40 calls need no more than 40 / (5 * 0.85) seconds
    assert times[-1] < 40 / (5 * 0.85)


def test_minute_cap_holds_a_long_burst_to_the_per_minute_budget() -> None:
    clock = Clock()
    limiter = RateLimiter(50, per_minute=100, clock=clock)
    times = slots(limiter, clock, 300)
    assert max(sum(1 for u in times if t <= u < t + 60.0) for t in times) <= 100
    assert max_in_any_second(times) <= 50
    assert times[89] < 2.0  # the first 90 go out at the per-second pace
    assert times[-1] < 3 * 60 + 5  # and the rest no slower than the minute budget allows


def test_an_idle_limiter_grants_at_once() -> None:
    clock = Clock()
    limiter = RateLimiter(5, clock=clock)
    slots(limiter, clock, 3)
    clock.now = 100.0
    assert limiter.idle
    assert limiter.reserve() == 0.0


def test_pause_holds_back_every_later_slot() -> None:
    clock = Clock()
    limiter = RateLimiter(50, clock=clock)
    limiter.pause(3.0)
    assert not limiter.idle
    times = slots(limiter, clock, 10)
    assert min(times) >= 3.0


def test_chats_are_limited_independently() -> None:
    clock = Clock()
    chats = KeyedRateLimiter(5, clock=clock)
    busy = [clock.now + chats.get("oc_busy").reserve() for _ in range(20)]
    assert busy[-1] > 3.0
    assert chats.get("oc_quiet").reserve() == 0.0
    chats.pause("oc_quiet", 2.0)
    assert chats.get("oc_other").reserve() == 0.0


def test_idle_chats_are_forgotten_when_there_are_many() -> None:
    clock = Clock()
    chats = KeyedRateLimiter(5, max_keys=10, clock=clock)
    for i in range(10):
        chats.get(f"oc_{i}").reserve()
    clock.now = 10.0
    chats.get("oc_new")
    assert len(chats) == 1


async def served(limiter: RateLimiter, callers: int) -> list[int]:
    """The order in which `callers` concurrent callers, numbered as they asked, were let through."""
    done: list[int] = []

    async def call(i: int) -> None:
        await limiter.acquire()
        done.append(i)

    await asyncio.gather(*(call(i) for i in range(callers)))
    return done


async def test_concurrent_callers_are_served_in_arrival_order() -> None:
    assert await served(RateLimiter(2000), 30) == list(range(30))


async def test_a_caller_held_up_before_its_sleep_still_goes_before_later_callers() -> None:
    held_up = {"first": True}

    async def sleep(delay: float) -> None:
        # the first caller that has to wait is held up for a moment (a busy loop, a collection)
        extra = 0.05 if held_up.pop("first", False) else 0.0
        await asyncio.sleep(delay + extra)

    assert await served(RateLimiter(2000, sleep=sleep), 10) == list(range(10))


async def test_a_caller_that_gives_up_does_not_hold_back_the_rest() -> None:
    limiter = RateLimiter(20)
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())
    later = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.wait_for(later, timeout=2.0)
    assert later.done() and not later.cancelled()
