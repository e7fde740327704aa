"""Store micro-benchmark: enqueue/s, lease+ack/s and long-poll wake-up, for SQLite and Redis.

    .venv/bin/python bench/store.py [--backend sqlite|redis|both] [--messages 3000] [--concurrency 32]

Each backend is measured beside a reference taken in the same run on the same machine:
- SQLite: the naive way, one INSERT + COMMIT per message (same WAL file settings, synchronous=FULL)
  on a thread, one at a time; the ratio shows what group commit buys.
- Redis: one plain SET per message (a bare round trip) at the same concurrency; the ratio shows what
  the enqueue script costs over the cheapest possible write.
It starts its own redis-server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_process import RedisProcess  # noqa: E402
from larkdou.message import Message  # noqa: E402
from larkdou.store import Queue, open_queue  # noqa: E402


def message(i: int) -> Message:
    return Message(msg_id=f"om_{i:08d}", group_id=f"oc_{i % 50}", content=f"question {i} 怎么配置 webhook?",
                   user_id="ou_alice", msg_time=1_700_000_000_000 + i, event_id=f"ev_{i:08d}")


async def rate(n: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """Run op(0..n-1) with `concurrency` workers; returns (operations/s, p99 ms)."""
    it = iter(range(n))
    latencies: list[float] = []

    async def worker() -> None:
        for i in it:
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return n / wall, latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000


async def lease_ack_rate(queue: Queue, n: int, consumers: int) -> float:
    """Lease and ack `n` queued messages with `consumers` concurrent consumers; returns messages/s."""
    left = n

    async def consumer() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            d = await queue.lease(60)
            assert d is not None, "the queue ran dry"
            assert await queue.ack(d.delivery_id)

    t0 = time.perf_counter()
    await asyncio.gather(*(consumer() for _ in range(consumers)))
    return n / (time.perf_counter() - t0)


async def wake_latency(queue: Queue, rounds: int = 20) -> float:
    """Median ms from an enqueue to the return of a consumer's long-poll that was waiting for it."""
    samples = []
    for i in range(rounds):
        waiting = asyncio.create_task(queue.lease(60, wait=10))
        await asyncio.sleep(0.02)
        t0 = time.perf_counter()
        await queue.enqueue(message(10_000_000 + i), [f"wake:{i}"])
        d = await waiting
        samples.append((time.perf_counter() - t0) * 1000)
        assert d is not None
        await queue.ack(d.delivery_id)
    return statistics.median(samples)


async def sqlite_reference(path: Path, n: int) -> float:
    """One INSERT + COMMIT per message on a thread (WAL, synchronous=FULL), serialised by a lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE q (seq INTEGER PRIMARY KEY, body TEXT)")
    lock = threading.Lock()

    def insert(i: int) -> None:
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO q (body) VALUES (?)", (message(i).content,))
            conn.execute("COMMIT")

    try:
        eps, _ = await rate(n, 32, lambda i: asyncio.to_thread(insert, i))
    finally:
        conn.close()
    return eps


async def redis_reference(url: str, n: int, concurrency: int) -> float:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        eps, _ = await rate(n, concurrency, lambda i: client.set(f"bench:{i}", message(i).content))
    finally:
        await client.aclose()
    return eps


async def measure(backend: str, url: str, n: int, concurrency: int, tmp: Path) -> None:
    queue = await open_queue(url)
    try:
        eps_1, p99_1 = await rate(n // 4, 1, lambda i: queue.enqueue(message(i), [f"m:{i}"]))
        eps_c, p99_c = await rate(n, concurrency, lambda i: queue.enqueue(message(n + i), [f"m:{n + i}"]))
        total = n // 4 + n
        half = total // 2
        la_1 = await lease_ack_rate(queue, half, 1)
        la_c = await lease_ack_rate(queue, total - half, 8)
        wake = await wake_latency(queue)
    finally:
        await queue.close()
    if backend == "sqlite":
        ref_name, ref = "naive insert+commit", await sqlite_reference(tmp / "reference.db", n // 4)
    else:
        ref_name, ref = "plain SET", await redis_reference(url, n, concurrency)
    print(f"{backend}: enqueue      x1: {eps_1:8.0f}/s  p99 {p99_1:6.1f} ms")
    print(f"{backend}: enqueue     x{concurrency}: {eps_c:8.0f}/s  p99 {p99_c:6.1f} ms")
    print(f"{backend}: lease+ack    x1: {la_1:8.0f}/s")
    print(f"{backend}: lease+ack    x8: {la_c:8.0f}/s")
    print(f"{backend}: long-poll wake-up: {wake:.1f} ms (median)")
    print(f"{backend}: reference ({ref_name}): {ref:8.0f}/s; enqueue x{concurrency} / reference = {eps_c / ref:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "redis", "both"], default="both")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    for backend in (["sqlite", "redis"] if args.backend == "both" else [args.backend]):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            redis = RedisProcess(tmp)
            if backend == "redis":
                url = f"{redis.start().url}/0"
            else:
                url = f"sqlite:///{tmp / 'queue.db'}"
            try:
                asyncio.run(measure(backend, url, args.messages, args.concurrency, tmp))
            finally:
                redis.stop()


if __name__ == "__main__":
    main()
