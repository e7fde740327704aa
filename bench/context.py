"""Context store benchmark: what a follow-up costs, on SQLite and Redis, and how much it adds to the prompt.

    .venv/bin/python bench/context.py [--backend sqlite|redis|both] [--chats 200] [--lookups 2000]

Per backend, in one store (the assistant's: ledger and context side by side), filled with `--chats`
chats of realistic exchanges (question → bot answer → follow-up reply → answer …, some in threads,
the rest chatter) up to the per-chat bound, it times, one call at a time:
- the context lookup of a follow-up (`ContextStore.context`, limit 6): the figure with a goal (< 5 ms);
- `Ledger.find_sent` (is the parent one of the bot's?) and `ContextStore.record` (remembering a message);
- the reference, measured in the same run: `Ledger.sent_for_source`, the lookup every answer already
  makes (exactly-once check); the ratio says what a follow-up adds in store round trips.
Then the prompt: the bundled sample knowledge base answers a question (extractive reply, as without
an LLM), the user replies to it twice, and the third question's prompt is built with and without the
earlier exchange (`history_messages`): the characters the context adds, and the ratio.
It starts its own redis-server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_process import RedisProcess  # noqa: E402
from larkdou.message import Message  # noqa: E402
from larkdou.store import ContextEntry, ContextStore, Ledger, SentMessage, open_context, open_ledger  # noqa: E402

T0 = 1_700_000_000_000
LIMIT = 6
ANSWER = "在 config.ini 的 [gateway] 写 store = \"redis://127.0.0.1:6379/0\"，网关和助手共用一个 Redis。[1]\n\n" \
         "来源 Sources:\n[1] docs/02-configuration.md › 存储"


def user(chat: str, n: int, *, parent: str = "", root: str = "", thread: str = "") -> Message:
    return Message(msg_id=f"om_{chat}_{n}", group_id=chat, content=f"问题 {n}：Redis 和 SQLite 哪个适合多实例部署？",
                   user_id=f"ou_{n % 7}", msg_time=T0 + n * 1000, parent_id=parent, root_id=root, thread_id=thread)


async def fill(context: ContextStore, ledger: Ledger, chats: int, per_chat: int) -> list[Message]:
    """Exchanges in every chat; returns one follow-up per chat (a reply to the bot's latest answer)."""
    rnd = random.Random(7)
    follow_ups = []
    for c in range(chats):
        chat = f"oc_{c:05d}"
        n, last_answer, root = 0, "", ""
        while n < per_chat + 10:  # a little past the bound, so that trimming happens too
            n += 1
            if last_answer and rnd.random() < 0.5:  # a follow-up replying to the bot
                q = user(chat, n, parent=last_answer, root=root, thread=f"omt_{chat}_{root}" if c % 3 == 0 else "")
            elif rnd.random() < 0.4:  # chatter
                await context.record(ContextEntry.user(user(chat, n)))
                continue
            else:
                q = user(chat, n)
                root = q.msg_id
            await context.record(ContextEntry.user(q))
            n += 1
            bot_id = f"om_{chat}_{n}_bot"
            await ledger.record_sent(SentMessage(bot_id, chat, q.msg_id, T0 + n * 1000))
            await context.record(ContextEntry.bot(q, bot_id, ANSWER, ["docs/02-configuration.md"], T0 + n * 1000))
            last_answer = bot_id
        follow_ups.append(user(chat, n + 1, parent=last_answer, root=root))
    return follow_ups


async def timed(n: int, op: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    """p50 and p99 in ms of `op(i)` for i in 0..n-1, one at a time."""
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        await op(i)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


async def measure(backend: str, url: str, chats: int, lookups: int) -> None:
    ledger = await open_ledger(url)
    context = await open_context(url)
    try:
        t0 = time.perf_counter()
        follow_ups = await fill(context, ledger, chats, 50)
        fill_s = time.perf_counter() - t0
        sizes = [len(await context.context(f, LIMIT)) for f in follow_ups]
        pick = [follow_ups[i % len(follow_ups)] for i in range(lookups)]
        ctx = await timed(lookups, lambda i: context.context(pick[i], LIMIT))
        ref = await timed(lookups, lambda i: ledger.sent_for_source(pick[i].parent_id))
        found = await timed(lookups, lambda i: ledger.find_sent(pick[i].parent_id))
        rec = await timed(lookups, lambda i: context.record(ContextEntry.user(
            user(pick[i].chat_id, 10_000 + i, parent=pick[i].parent_id, root=pick[i].root_id))))
    finally:
        await context.close()
        await ledger.close()
    print(f"{backend}: filled {chats} chats in {fill_s:.1f} s; a follow-up's context holds "
          f"{statistics.mean(sizes):.1f} messages on average (limit {LIMIT})")
    for name, (p50, p99) in (("context lookup", ctx), ("ledger find_sent", found), ("context record", rec),
                             ("reference: ledger sent_for_source", ref)):
        print(f"{backend}: {name:34s} p50 {p50:6.3f} ms  p99 {p99:6.3f} ms")
    print(f"{backend}: context lookup / reference = {ctx[0] / ref[0]:.2f} (p50); "
          f"goal < 5 ms: {'met' if ctx[0] < 5 else 'NOT met'}")


def prompt_size(work: Path) -> None:
    """Characters a follow-up's earlier exchange adds to the LLM prompt, on the sample knowledge base."""
    from larkdou.answer.history import history_chars, history_messages
    from larkdou.answer.prompt import build_messages, extractive_reply
    from larkdou.config import build_settings
    from larkdou.kb import build_sample_kb
    from larkdou.kb.index import open_kb

    settings = build_settings({"assistant": {"work_dir": str(work)}}, base_dir=work, env={})
    build_sample_kb(settings)
    kb = open_kb(settings, required=True)
    assert kb is not None
    q1 = Message(msg_id="om_q1", group_id="oc_1", content="加密 key 怎么配置？", msg_time=T0)
    a1_text, a1_sources = extractive_reply(kb.search(q1.content, 3))
    f1 = Message(msg_id="om_f1", group_id="oc_1", content="verification token 也是填在那里吗？", msg_time=T0 + 60_000,
                 parent_id="om_a1", root_id="om_q1")
    a2_text, _ = extractive_reply(kb.search(f1.content, 3))
    entries = [ContextEntry.user(q1), ContextEntry.bot(q1, "om_a1", a1_text, a1_sources, T0 + 1000),
               ContextEntry.user(f1), ContextEntry.bot(f1, "om_a2", a2_text, [], T0 + 61_000)]
    entries = [e.bounded() for e in entries]  # as the store keeps them
    question = "那改了以后要重启网关吗？"
    base = build_messages(question, kb.search(question, settings.kb.top_k))
    base_chars = sum(len(m["content"]) for m in base)
    turns = history_messages(entries[-LIMIT:])
    added = history_chars(turns)
    print(f"prompt: follow-up after two answered questions: base prompt {base_chars} chars; "
          f"earlier exchange adds {added} chars in {len(turns)} turns (x{(base_chars + added) / base_chars:.2f}); "
          f"the answers are extractive (~{len(a1_text)} chars each), LLM answers are usually shorter")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "redis", "both"], default="both")
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--lookups", type=int, default=2000)
    args = ap.parse_args()
    for backend in (["sqlite", "redis"] if args.backend == "both" else [args.backend]):
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            redis = RedisProcess(tmp)
            url = f"{redis.start().url}/0" if backend == "redis" else f"sqlite:///{tmp / 'assistant.db'}"
            try:
                asyncio.run(measure(backend, url, args.chats, args.lookups))
            finally:
                redis.stop()
    with tempfile.TemporaryDirectory() as d:
        prompt_size(Path(d))


if __name__ == "__main__":
    main()
