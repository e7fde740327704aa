"""Concurrency benchmark: questions in many chats at once, with an LLM that takes L seconds.

    .venv/bin/python bench/concurrency.py [--chats 20] [--llm-latency 2] [--concurrency 20] [--rounds 3]

The sandbox, a real gateway, an LLM stand-in with latency L and the assistant (split mode, fetching
over HTTP) run on loopback. Each round posts one question (@mentioning the bot) in each of `--chats`
chats at once and measures, on the sandbox's clock, from the first question to the last answer
complete (a card streamed while the LLM writes counts when its final update lands; when each card was
first shown is printed too).

Reference, measured in the same run: one question in one chat (L plus the pipeline's overhead).
Target: all chats answered in about the reference time (ratio near 1), not chats x L; with
`[assistant] concurrency` C below the number of chats, expect ceil(chats / C) x the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larkdou import logs  # noqa: E402
from larkdou.assistant.main import running  # noqa: E402
from tests.e2e.harness import World, world  # noqa: E402


async def ask_all(w: World, run, chats: list[str], tag: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Post one question in every chat at once; seconds from the first question to the last answer
    complete, and to the last answer first shown."""
    ids = await asyncio.gather(*(w.sandbox.say(chat, f"{tag}：网关默认端口是多少？", mention_bot=True)
                                 for chat in chats))
    for msg_id in ids:
        outcome = await run.worker.wait_handled(msg_id, timeout=600)
        if outcome.status != "answered":
            raise SystemExit(f"{msg_id} was not answered: {outcome}")
    asked, answered, shown = [], [], []
    for chat, msg_id in zip(chats, ids):
        items = await w.sandbox.messages(chat)
        asked += [int(m["create_time"]) for m in items if m["message_id"] == msg_id]
        replies = [m for m in items if m["parent_id"] == msg_id]
        if len(replies) != 1:
            raise SystemExit(f"{chat}: {len(replies)} answers to one question")
        answered.append(int(replies[0]["update_time"]))
        shown.append(int(replies[0]["create_time"]))
    return (max(answered) - min(asked)) / 1000, (max(shown) - min(asked)) / 1000


async def main(args: argparse.Namespace) -> None:
    measured, reference, first_shown = [], [], []
    with tempfile.TemporaryDirectory(prefix="larkdou-bench-concurrency-") as tmp:
        async with world(Path(tmp), None, llm_latency=args.llm_latency, concurrency=args.concurrency) as w:
            async with running(w.settings, api_port=0) as run:
                for r in range(args.rounds):
                    reference.append((await ask_all(w, run, [f"oc_bench_single_{r}"], f"单独 {r}"))[0])
                    chats = [f"oc_bench_{r}_{i}" for i in range(args.chats)]
                    done, shown = await ask_all(w, run, chats, f"第 {r} 轮")
                    measured.append(done)
                    first_shown.append(shown)
                    print(f"round {r + 1}: {args.chats} chats {done:.2f} s (every card shown after {shown:.2f} s), "
                          f"one chat {reference[-1]:.2f} s", flush=True)
                most = w.llm.max_in_flight
    m, ref = statistics.median(measured), statistics.median(reference)
    expected = math.ceil(args.chats / args.concurrency)
    print(f"\nLLM latency L = {args.llm_latency:g} s, [assistant] concurrency = {args.concurrency}, "
          f"most LLM calls at once = {most}")
    print(f"{args.chats} questions in {args.chats} chats: median {m:.2f} s; one question: median {ref:.2f} s")
    print(f"ratio all / one = {m / ref:.2f} (expected about {expected}; serial would be {args.chats})")
    print(f"every chat's card shown (\"思考中…\" when streamed) after: median {statistics.median(first_shown):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--llm-latency", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    logs.setup("WARNING")
    asyncio.run(main(parser.parse_args()))
