"""Recall benchmark: how fast `豆哥撤回` takes back everything the bot said in a chat.

    .venv/bin/python bench/recall.py [--messages 20] [--llm-latency 10] [--rounds 3]

The sandbox (with its real rate limits), a real gateway, an LLM stand-in and the assistant (split
mode, fetching over HTTP) run on loopback. In each round the bot first answers `--messages` questions
in a chat, then starts on one more whose answer takes `--llm-latency` seconds; then someone says
豆哥撤回 (the pending answer's card, which says "思考中…", is recalled with the rest). Measured, on
the sandbox's clock: from the recall event reaching the gateway (the push got its 200) to the last of
the bot's messages recalled.

Reference, measured in the same run against the same sandbox: the same number of the bot's messages
recalled one after another by a plain loop over the Lark client. Target: under 1 s; the ratio shows
what concurrency buys.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larkdou import logs  # noqa: E402
from larkdou.assistant.main import running  # noqa: E402
from larkdou.lark.client import LarkApp, LarkClient, reply_uuid  # noqa: E402
from tests.e2e.harness import World, world  # noqa: E402

TARGET_SECONDS = 1.0


async def fill_chat(w: World, run, chat: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """The bot answers n questions in `chat` (each @mentions it)."""
    ids = [await w.sandbox.say(chat, f"第 {i} 个问题：网关默认端口是多少？", mention_bot=True) for i in range(n)]
    for msg_id in ids:
        outcome = await run.worker.wait_handled(msg_id, timeout=120)
        if outcome.status != "answered":
            raise SystemExit(f"setup failed: {msg_id} was {outcome}")


async def recall_round(w: World, run, chat: str, n: int, latency: float) -> float:  # type: ignore[no-untyped-def]
    await fill_chat(w, run, chat, n)
    w.llm.latency = latency
    calls = w.llm.calls
    pending = await w.sandbox.say(chat, "最后一个问题，回答要很久？", mention_bot=True)
    while w.llm.calls == calls:  # the slow answer is being generated
        await asyncio.sleep(0.01)
    recall = await w.sandbox.say(chat, "豆哥撤回")
    outcome = await run.worker.wait_handled(recall, timeout=60)
    if outcome.status != "recalled":
        raise SystemExit(f"recall failed: {outcome}")
    dropped = await run.worker.wait_handled(pending, timeout=60)
    w.llm.latency = 0.0
    bot = await w.sandbox.bot_messages(chat)
    answers = [m for m in bot if m["parent_id"] != pending]  # the pending one may have its "思考中…" card
    if len(answers) != n or not all(m["deleted"] for m in bot) or dropped.reason != "recalled":
        raise SystemExit(f"wrong result: {len(bot)} bot messages, {sum(m['deleted'] for m in bot)} recalled, "
                         f"pending answer {dropped}")
    pushed = (await w.sandbox.http.get("/sandbox/deliveries", params={"message_id": recall})).json()["items"]
    reached = min(d["time"] for d in pushed if d["status"] == 200)
    last = max(int(m["deleted_at"]) for m in bot) / 1000
    return last - reached


async def reference_round(w: World, chat: str, n: int) -> float:
    """n bot messages recalled one after another by a plain loop."""
    async with LarkClient(LarkApp.from_settings(w.settings)) as client:
        sent = []
        for i in range(n):
            sent.append(await client.send_text(chat, f"参考消息 {i}", uuid=reply_uuid(f"{chat}-{time.time()}", i)))
        start = time.time()
        for info in sent:
            await client.recall(info.message_id, chat_id=chat)
        return time.time() - start


async def main(args: argparse.Namespace) -> None:
    measured, reference = [], []
    with tempfile.TemporaryDirectory(prefix="larkdou-bench-recall-") as tmp:
        async with world(Path(tmp), None, concurrency=8) as w:
            app_rate = w.settings.lark.app_rate
            async with running(w.settings, api_port=0) as run:
                for r in range(args.rounds):
                    measured.append(await recall_round(w, run, f"oc_bench_recall_{r}", args.messages,
                                                       args.llm_latency))
                    reference.append(await reference_round(w, f"oc_bench_reference_{r}", args.messages))
                    print(f"round {r + 1}: recall {measured[-1] * 1000:.0f} ms, "
                          f"sequential reference {reference[-1] * 1000:.0f} ms", flush=True)
    m, ref = statistics.median(measured), statistics.median(reference)
    print(f"\n{args.messages} messages recalled while an answer ({args.llm_latency:g} s) was being generated")
    print(f"recall event at the gateway -> last message recalled: median {m * 1000:.0f} ms "
          f"(max {max(measured) * 1000:.0f} ms); target < {TARGET_SECONDS * 1000:.0f} ms: "
          f"{'met' if max(measured) < TARGET_SECONDS else 'NOT met'}")
    print(f"reference (one DELETE after another): median {ref * 1000:.0f} ms; ratio recall / reference = "
          f"{m / ref:.2f}")
    floor = args.messages / app_rate
    print(f"floor set by the app rate limit ({app_rate:g}/s): {floor * 1000:.0f} ms; "
          f"ratio recall / floor = {m / floor:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--llm-latency", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    logs.setup("WARNING")
    asyncio.run(main(parser.parse_args()))
