"""Context store benchmark: what a follow-up costs, on SQLite and Redis, and how much it adds to the prompt.

    .venv/bin/python bench/context.py [--backend sqlite|redis|both] [--chats 200] [--lookups 2000] [--chunks 100000]

Per backend, in one store (the assistant's: ledger and context side by side), filled with `--chats`
chats of realistic exchanges (question → bot answer → follow-up reply → answer …, some in threads,
the rest chatter) up to the per-chat bound, it times, one call at a time:
- the context lookup of a follow-up (`ContextStore.context`, limit 6): the figure with a goal (< 5 ms);
- `Ledger.find_sent` (is the parent one of the bot's?) and `ContextStore.record` (remembering a message);
- the reference, measured in the same run: `Ledger.sent_for_source`, the lookup every answer already
  makes (exactly-once check); the ratio says what a follow-up adds in store round trips.
Then the prompt, through the real answer pipeline (`build_answerer` with the context store, the LLM
stand-in answering in three sentences): on the bundled sample knowledge base a question is answered,
the user replies to the answer twice, and the third question's prompt is compared with the prompt of
the same words asked afresh: the characters the earlier exchange adds, and the ratio.
Last, retrieval: on a synthetic index of `--chunks` chunks (bench/retrieval.py's corpus), a
follow-up's search (`larkdou.answer.followup.search`: a second BM25 pass for the earlier question,
cited documents preferred) against the plain search of the same words, measured in the same run.
It starts its own redis-server on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
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


async def prompt_size(work: Path) -> None:
    """Characters a follow-up's earlier exchange adds to the LLM prompt, through the real answer pipeline
    (sample knowledge base, the LLM stand-in answering in three sentences, as a model typically does)."""
    from larkdou.answer import build_answerer
    from larkdou.answer.prompt import HISTORY_NOTE
    from larkdou.assistant.conversation import said
    from larkdou.config import build_settings
    from larkdou.kb import build_sample_kb
    from larkdou.message import Mention
    from larkdou.sandbox.llm import create_app
    from larkdou.serving import serving

    def typical(messages: list[dict[str, str]]) -> str:  # the first three sentences of passage [1], cited
        match = re.search(r"^\[1\] \(.*?\)\n(.+?)(?:\n\n\[2\]|\n\nQuestion:)", messages[-1]["content"], re.S | re.M)
        text = match.group(1) if match else "See the documents."
        return "".join(re.split(r"(?<=[。！？.!?])\s*", text)[:3]).strip() + " [1]"

    llm = create_app(reply=typical)
    bot = Mention(key="@_user_1", name="豆哥", open_id="ou_bot")
    url = f"sqlite:///{work / 'assistant.db'}"
    context, ledger = await open_context(url), await open_ledger(url)
    async with serving(llm) as base:
        settings = build_settings({"assistant": {"work_dir": str(work)}, "llm": {"base_url": f"{base}/v1", "model": "test"}},
                                  base_dir=work, env={})
        build_sample_kb(settings)
        answerer = build_answerer(settings, bot_open_id="ou_bot", context=context, ledger=ledger)
        answers: list[int] = []

        async def ask(n: int, text: str, parent: str = "", mention: bool = False) -> str:
            msg = Message(msg_id=f"om_q{n}", group_id="oc_1", content=("@豆哥 " if mention else "") + text,
                          msg_time=T0 + n * 60_000, parent_id=parent, root_id="om_q1" if parent else "",
                          mentions=[bot] if mention else [])
            await context.record(said(msg))
            d = await answerer.decide(msg)
            await ledger.record_sent(SentMessage(f"om_a{n}", "oc_1", msg.msg_id, msg.msg_time + 1000))
            body = d.reply.body if d.reply else d.text
            answers.append(len(body))
            await context.record(ContextEntry.bot(msg, f"om_a{n}", body, d.sources, msg.msg_time + 1000))
            return f"om_a{n}"

        a1 = await ask(1, "加密 key 怎么配置？", mention=True)
        a2 = await ask(2, "verification token 也是填在那里吗？", parent=a1)
        await ask(3, "那改了以后要重启网关吗？", parent=a2)
        await ask(4, "那改了以后要重启网关吗？", mention=True)  # the same words as a new question
        await answerer.aclose()
    await context.close()
    await ledger.close()
    follow, fresh = (llm.state.llm.requests[i]["messages"] for i in (2, 3))
    chars = [sum(len(m["content"]) for m in messages) for messages in (follow, fresh)]
    history = sum(len(m["content"]) for m in follow[1:-1]) + len(HISTORY_NOTE)
    print(f"prompt: the third question of an exchange (a reply to the bot's second answer): {chars[0]} chars; "
          f"the same words asked afresh: {chars[1]} chars (x{chars[0] / chars[1]:.2f}); of the difference, "
          f"{history} chars are the earlier exchange ({len(follow) - 2} turns and the note about them), the rest "
          f"other passages; the answers were ~{statistics.mean(answers[:2]):.0f} chars")


def retrieval_cost(work: Path, chunks: int, n: int) -> None:
    """A follow-up's retrieval (its earlier question as context: a second BM25 pass, and the cited
    documents preferred) against the plain search of the same words, on a synthetic index."""
    from bench.retrieval import make_queries, write_corpus
    from larkdou.answer.followup import Earlier, search
    from larkdou.config import build_settings
    from larkdou.kb import build_kb, open_kb

    rng = random.Random(chunks)
    docs = work / "docs"
    docs.mkdir()
    write_corpus(docs, chunks, rng)
    settings = build_settings({"assistant": {"work_dir": str(work / "work")}}, env={})
    build_kb(settings, docs, progress=False)
    kb = open_kb(settings, required=True)
    assert kb is not None
    queries, earlier_questions = make_queries(n, rng), make_queries(n, rng)
    cited = [kb.chunks[rng.randrange(len(kb.chunks))].citation for _ in range(n)]
    earlier = [Earlier([ContextEntry(f"om_{i}", "oc_1", "user", q, at_ms=T0),
                        ContextEntry(f"om_b{i}", "oc_1", "bot", "…", sources=[c], at_ms=T0 + 1)])
               for i, (q, c) in enumerate(zip(earlier_questions, cited))]
    kb.search(queries[0])  # warm-up
    plain, follow = [], []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        kb.search(q, 4)
        plain.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        search(kb, q, earlier[i], 4)
        follow.append((time.perf_counter() - t) * 1000)
    p50, ref = statistics.median(follow), statistics.median(plain)
    print(f"retrieval at {len(kb.chunks)} chunks: follow-up search p50 {p50:.2f} ms, plain search (reference) "
          f"p50 {ref:.2f} ms, ratio {p50 / ref:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "redis", "both"], default="both")
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--chunks", type=int, default=100_000, help="size of the index for the retrieval cost")
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
        asyncio.run(prompt_size(Path(d)))
    with tempfile.TemporaryDirectory() as d:
        retrieval_cost(Path(d), args.chunks, 300)


if __name__ == "__main__":
    main()
