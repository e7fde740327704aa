"""Drain benchmark: how fast assistants empty a backlog through the gateway's /fetch and /ack.

    .venv/bin/python bench/drain.py [--backend sqlite|redis|both] [--messages 20000] [--consumers 8] [--room 16]

A backlog of `--messages` is put straight into the store, then `--consumers` assistants drain it over
HTTP from a real `larkdou gateway` process, each the way the worker does: `HttpSource.next(room=…)`
(batch fetch, local buffer) and one ack per message once "handled" (acks made at the same time go
out together). Handling is instant, so this measures the queue path alone. Printed beside it, measured
in the same run on the same store:
- reference: the store's own loop in-process, no HTTP: `lease_many(room)` + `ack_many` per consumer;
- single form: the guide's one message per /fetch and one /ack per message (what a client that does
  not use the batch forms gets).
Ratios are drain / reference. Target: the HTTP drain at least 1,000 messages/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larkdou.assistant.sources import HttpSource  # noqa: E402
from larkdou.config import build_settings  # noqa: E402
from larkdou.message import Message  # noqa: E402
from larkdou.store import open_queue  # noqa: E402
from tests.factories import FETCH_TOKEN, settings_dict  # noqa: E402
from bench.ingest import start_gateway  # noqa: E402
from tests.redis_process import RedisProcess  # noqa: E402

AUTH = {"Authorization": f"Bearer {FETCH_TOKEN}"}


async def fill(url: str, n: int, tag: str) -> None:
    queue = await open_queue(url)
    try:
        sem = asyncio.Semaphore(64)

        async def put(i: int) -> None:
            async with sem:
                m = Message(msg_id=f"om_{tag}_{i}", group_id=f"oc_{i % 50}", content=f"question {i} 怎么配置?",
                            user_id="ou_alice", msg_time=1_700_000_000_000 + i, event_id=f"ev_{tag}_{i}")
                assert await queue.enqueue(m, [f"msg:{m.msg_id}"])

        await asyncio.gather(*(put(i) for i in range(n)))
    finally:
        await queue.close()


async def reference(url: str, n: int, consumers: int, room: int) -> float:
    """The store alone: lease up to `room`, ack them all, per consumer, until `n` are done."""
    queue = await open_queue(url)
    done = 0

    async def consume() -> None:
        nonlocal done
        while done < n:
            got = await queue.lease_many(room, 60)
            if not got:
                return
            assert all(await queue.ack_many([d.delivery_id for d in got]))
            done += len(got)

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(consume() for _ in range(consumers)))
        elapsed = time.perf_counter() - t0
    finally:
        await queue.close()
    assert done == n, f"reference drained {done} of {n}"
    return n / elapsed


async def http_drain(gateway: str, n: int, consumers: int, room: int) -> float:
    """`consumers` HttpSources, each holding at most `room` messages; each message acked on its own."""
    data = settings_dict("sqlite:///unused.db")
    data["frontend"]["webhook_url"] = f"{gateway}/fetch"
    settings = build_settings(data, env={})
    limits = httpx.Limits(max_connections=room + 4, max_keepalive_connections=room + 4)
    done = 0
    finished = asyncio.Event()

    async def consume() -> None:
        nonlocal done
        http = httpx.AsyncClient(timeout=30, limits=limits)
        source = HttpSource(settings, wait=0, lease=60, client=http)
        held = 0
        tasks: set[asyncio.Task] = set()
        room_free = asyncio.Event()

        async def handle(delivery_id: str) -> None:
            nonlocal held, done
            assert await source.ack(delivery_id)
            held -= 1
            done += 1
            room_free.set()
            if done >= n:
                finished.set()

        try:
            while not finished.is_set():
                if held >= room:
                    room_free.clear()
                    await room_free.wait()
                    continue
                d = await source.next(room=room - held)
                if d is None:
                    await asyncio.sleep(0.01)
                    continue
                held += 1
                task = asyncio.create_task(handle(d.delivery_id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)
        finally:
            await source.aclose()
            await http.aclose()

    t0 = time.perf_counter()
    await asyncio.gather(*(consume() for _ in range(consumers)))
    return n / (time.perf_counter() - t0)


async def single_form(gateway: str, n: int, consumers: int) -> float:
    """One message per /fetch, one /ack per message, `consumers` loops at once."""
    done = 0

    async def consume(http: httpx.AsyncClient) -> None:
        nonlocal done
        while done < n:
            got = (await http.post(f"{gateway}/fetch", params={"wait": 0, "lease": 60}, headers=AUTH)).json()
            if not got:
                return
            r = await http.post(f"{gateway}/ack", json={"delivery_id": got["delivery_id"]}, headers=AUTH)
            assert r.json() == {"acked": True}
            done += 1

    async with httpx.AsyncClient(timeout=30) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(consume(http) for _ in range(consumers)))
        elapsed = time.perf_counter() - t0
    assert done >= n, f"single form drained {done} of {n}"
    return n / elapsed


async def measure(store: str, gateway: str, args: argparse.Namespace) -> dict[str, float]:
    n, k, room = args.messages, args.consumers, args.room
    await fill(store, n, "ref")
    ref = await reference(store, n, k, room)
    await fill(store, n, "http")
    drain = await http_drain(gateway, n, k, room)
    small = min(n, args.single)
    await fill(store, small, "single")
    single = await single_form(gateway, small, k)
    return {"reference": ref, "drain": drain, "single": single}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "redis", "both"], default="both")
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--single", type=int, default=3000, help="messages drained in the single form")
    ap.add_argument("--consumers", type=int, default=8)
    ap.add_argument("--room", type=int, default=16, help="messages one consumer may hold (the worker's prefetch)")
    args = ap.parse_args()
    print(f"{args.messages} messages, {args.consumers} consumers holding up to {args.room} each")
    print(f"{'backend':8} {'reference/s':>12} {'drain/s':>9} {'ratio':>6} {'single form/s':>14}")
    ok = True
    for backend in (["sqlite", "redis"] if args.backend == "both" else [args.backend]):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            redis = RedisProcess(tmp)
            store = f"{redis.start().url}/0" if backend == "redis" else f"sqlite:///{tmp / 'gw.db'}"
            proc, gateway = start_gateway(tmp, store)
            try:
                r = asyncio.run(measure(store, gateway, args))
            finally:
                proc.terminate()
                proc.wait(timeout=10)
                redis.stop()
        ok &= r["drain"] >= 1000
        print(f"{backend:8} {r['reference']:12.0f} {r['drain']:9.0f} {r['drain'] / r['reference']:6.2f} "
              f"{r['single']:14.0f}")
    print(f"target: drain >= 1000 messages/s: {'met' if ok else 'NOT met'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
