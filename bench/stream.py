"""Streaming benchmark: how soon an LLM answer is seen when it is streamed into a card.

    .venv/bin/python bench/stream.py [--first-token 1.0] [--token-delay 0.03] [--rounds 3]

The sandbox (with its real rate limits), a real gateway, the assistant (split mode, fetching over
HTTP) on the bundled sample knowledge base, and the OpenAI-compatible LLM stand-in, which waits
`--first-token` seconds and then writes a ~500-character Chinese answer a piece (word or character)
every `--token-delay` seconds, as a hosted model does. Each round asks one question @mentioning the
bot and watches the chat (polling the sandbox every 10 ms): when the card appears ("思考中…"), when it
first shows text, when its final update lands, and how many updates it took.

Reference, measured in the same run against the same stand-in: the same question answered with
`[assistant] reply_format = "text"` (no streaming: the reply is posted once the LLM is done; the
stand-in then takes as long to answer as it takes to write the streamed answer). The ratio
first text (streamed) / reply (reference) is what streaming buys; the ratio complete (streamed) /
reply (reference) is what it costs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from larkdou import logs  # noqa: E402
from larkdou.assistant.main import running  # noqa: E402
from larkdou.config import build_settings  # noqa: E402
from larkdou.kb import build_sample_kb  # noqa: E402
from larkdou.sandbox.llm import pieces  # noqa: E402
from tests.e2e.harness import World, world  # noqa: E402

ANSWER = ("在配置文件的 `[frontend.lark_group]` 表里填 `encrypt_key` 和 `verification_token`，两个值都来自飞书开发者后台"
          "“事件与回调 → 加密策略”页面，必须和后台完全一致 [1]。网关收到事件后先用 `X-Lark-Signature` 验签，再用"
          "encrypt key 解密；验签失败、token 不对或者解密失败的事件一律返回 401，不会进入队列，也不会被回答 [1]。\n\n"
          "```toml\n[frontend.lark_group]\nencrypt_key = \"abc\"\nverification_token = \"def\"\n```\n\n"
          "改完配置后重启网关即可生效；如果用长连接接收事件，就不需要这两个值，只要 app_id 和 app_secret [1]。"
          "可以用 `larkdou config check` 检查配置，它会一次列出所有问题，并把密钥打码显示 [1]。") * 2


async def watch(w: World, chat: str, msg_id: str, timeout: float = 120) -> dict[str, Any]:
    """Poll the chat until the reply to `msg_id` is complete; when it was shown, first showed text, ended."""
    seen: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while True:
            replies = [m for m in await w.sandbox.messages(chat) if m["parent_id"] == msg_id]
            if replies:
                m = replies[0]
                seen.setdefault("shown", int(m["create_time"]))
                if m["updates"] >= 1:
                    seen.setdefault("text", int(m["update_time"]))
                done = m["msg_type"] == "text" or ("生成中" not in m["text"] and "思考中" not in m["text"])
                if done:
                    seen.update(done=int(m["update_time"]), updates=m["updates"], parts=len(replies))
                    seen.setdefault("text", int(m["update_time"]))
                    return seen
            await asyncio.sleep(0.01)


async def ask(w: World, run, chat: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    msg_id = await w.sandbox.say(chat, "加密 key 怎么配置？", mention_bot=True)
    asked = next(int(m["create_time"]) for m in await w.sandbox.messages(chat) if m["message_id"] == msg_id)
    seen = await watch(w, chat, msg_id)
    outcome = await run.worker.wait_handled(msg_id, timeout=120)
    if outcome.status != "answered":
        raise SystemExit(f"not answered: {outcome}")
    return {"shown": (seen["shown"] - asked) / 1000, "text": (seen["text"] - asked) / 1000,
            "done": (seen["done"] - asked) / 1000, "updates": seen["updates"]}


async def settle(w: World) -> None:
    """Let the long poll of an assistant just stopped end at the gateway, so that it leases nothing
    the next one should get (a message leased by an abandoned fetch waits for its lease to run out)."""
    await asyncio.sleep(w.settings.assistant.fetch_wait + 0.5)


async def main(args: argparse.Namespace) -> None:
    streamed: list[dict[str, float]] = []
    reference: list[float] = []
    with tempfile.TemporaryDirectory(prefix="larkdou-bench-stream-") as tmp:
        work = Path(tmp) / "kb-work"
        kb_settings = build_settings({"assistant": {"work_dir": str(work)}}, base_dir=work, env={})
        await asyncio.to_thread(build_sample_kb, kb_settings)
        async with world(Path(tmp), kb_settings.kb_dir, llm_latency=args.first_token) as w:
            w.llm.reply, w.llm.token_delay = ANSWER, args.token_delay
            as_text = w.settings.model_copy(deep=True)
            as_text.assistant.reply_format = "text"
            writing = args.first_token + len(pieces(ANSWER)) * args.token_delay
            for r in range(args.rounds):
                w.llm.latency = args.first_token
                async with running(w.settings, api_port=0) as run:
                    streamed.append(await ask(w, run, f"oc_bench_stream_{r}"))
                await settle(w)
                w.llm.latency = writing  # a model answering without streaming takes as long to write it all
                async with running(as_text, api_port=0) as run:
                    reference.append((await ask(w, run, f"oc_bench_text_{r}"))["done"])
                await settle(w)
                s = streamed[-1]
                print(f"round {r + 1}: card {s['shown']:.2f} s, first text {s['text']:.2f} s, complete {s['done']:.2f} s "
                      f"({s['updates']:.0f} updates); text reply {reference[-1]:.2f} s", flush=True)
    med = {k: statistics.median(s[k] for s in streamed) for k in ("shown", "text", "done", "updates")}
    ref = statistics.median(reference)
    n = len(pieces(ANSWER))
    print(f"\nLLM stand-in: first piece after {args.first_token:g} s, then {n} pieces ({len(ANSWER)} characters) "
          f"every {args.token_delay:g} s (about {args.first_token + n * args.token_delay:.1f} s to write)")
    print(f"streamed into a card: shown {med['shown']:.2f} s, first text {med['text']:.2f} s, complete "
          f"{med['done']:.2f} s, {med['updates']:.0f} updates for {n} pieces")
    print(f"reference, plain text reply posted when written: {ref:.2f} s")
    print(f"ratio first text / reference = {med['text'] / ref:.2f}; complete / reference = {med['done'] / ref:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first-token", type=float, default=1.0)
    parser.add_argument("--token-delay", type=float, default=0.03)
    parser.add_argument("--rounds", type=int, default=3)
    logs.setup("WARNING")
    asyncio.run(main(parser.parse_args()))
