"""Card building benchmark: what it costs to turn an answer into Lark card JSON.

    .venv/bin/python bench/cards.py [--rounds 5]

While an answer is streamed, the card is rebuilt from the whole text so far at every update (at most
every 0.5 s), and a finished long answer is split over several cards. Measured per call, for answers
of Chinese paragraphs with code blocks (the median of `--rounds` rounds): `streaming_card` at 2, 10
and 27 KB of text (the last is as much as one card holds), and `answer_cards` on 100 KB.

Reference, in the same run: `json.dumps` of the card that was built (the serialisation every send
pays anyway). The ratio says how many serialisations one build costs. Target: a streaming card for a
full card's worth of text in under 20 ms (40 updates a second would still leave the event loop free).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larkdou.lark.cards import answer_cards, recall_footer, streaming_card  # noqa: E402

TARGET_MS = 20.0
BLOCK = ("这一段说明网关如何把事件写进队列，并在三秒内应答飞书。**重点**：撤回优先，`/fetch` 先给撤回命令。\n\n"
         "```python\nasync def handle(event):\n    await queue.put(event)  # 持久化后才应答\n    return 200\n```\n\n")


def answer(kb: int) -> str:
    text = BLOCK * (kb * 1024 // len(BLOCK.encode()) + 1)
    return text[: len(text) * kb * 1024 // len(text.encode())]


def per_call(fn: Callable[[], Any], rounds: int) -> float:
    """Median seconds per call over `rounds` rounds of enough calls to last ~0.2 s."""
    n = max(1, int(0.2 / max(1e-6, timed(fn))))
    return statistics.median(timed(fn, n) / n for _ in range(rounds))


def timed(fn: Callable[[], Any], n: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for kb in (2, 10, 27):
        text = answer(kb)
        card = streaming_card(text, footer=recall_footer())
        build = per_call(lambda: streaming_card(text, footer=recall_footer()), args.rounds)
        ref = per_call(lambda: json.dumps(card, ensure_ascii=False), args.rounds)
        rows.append((f"streaming_card, {kb} KB", build, ref, 1))
    text = answer(100)
    cards = answer_cards(text, footer=recall_footer())
    build = per_call(lambda: answer_cards(text, footer=recall_footer()), args.rounds)
    ref = per_call(lambda: [json.dumps(c, ensure_ascii=False) for c in cards], args.rounds)
    rows.append(("answer_cards, 100 KB", build, ref, len(cards)))

    print(f"{'build':<24} {'cards':>5} {'ms/call':>9} {'json.dumps ms':>14} {'ratio':>7}")
    for name, build, ref, n in rows:
        print(f"{name:<24} {n:>5} {build * 1000:>9.2f} {ref * 1000:>14.3f} {build / ref:>7.1f}")
    full = rows[2][1] * 1000
    print(f"target: streaming_card at 27 KB under {TARGET_MS:.0f} ms: {'met' if full < TARGET_MS else 'NOT met'} ({full:.1f} ms)")


if __name__ == "__main__":
    main()
