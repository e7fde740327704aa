"""The assistant as a real process, SIGKILLed while an answer is half out, then started again: the
answer is finished, each part once — the missing parts of a long answer (as planned, not written
anew), or the card that was being streamed, updated to the final answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from larkdou.assistant.render import reply_texts_for
from larkdou.answer.reply import Reply
from larkdou.lark.cards import card_as_text
from larkdou.store import open_ledger
from tests.e2e.harness import AssistantProcess, World, world

CHAT = "oc_unfinished"
QUESTION = "加密 key 怎么配置？"
LONG = ("在 `[frontend.lark_group]` 里把 `encrypt_key` 设成飞书开发者后台“事件与回调 → 加密策略”里的 Encrypt Key，"
        "`verification_token` 设成同一页的 Verification Token [1]。网关收到事件后先验签再解密，密钥不对的事件"
        "会被拒绝并写进日志，不会进入队列 [1]。改完配置要重启网关 [1]。")
BIG = "".join(f"Paragraph {i}: the gateway checks the signature of each event, then decrypts it with the "
              f"encrypt key; an event with a wrong key is refused [1].\n\n" for i in range(300))
HUGE = "".join(f"第 {i} 段：网关收到事件后先验签再解密，密钥不对的事件会被拒绝 [1]。\n\n" for i in range(1600))


def shown(message: dict[str, Any]) -> str:
    if message["msg_type"] == "interactive":
        return card_as_text(json.loads(message["content"]))
    return message["text"]


async def until(check, timeout: float = 60) -> Any:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not (value := await check()):
            await asyncio.sleep(0.05)
        return value


async def no_plan_left(w: World, msg_id: str) -> bool:
    ledger = await open_ledger(w.settings.assistant_store_url)
    try:
        return await ledger.answer_plan(msg_id) is None
    finally:
        await ledger.close()


async def test_sigkill_between_the_parts_of_a_long_answer_then_restart_sends_the_rest_once(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, lease=5.0, reply_format="text") as w:
        w.llm.reply = HUGE
        proc = AssistantProcess(w)
        await proc.start()
        try:
            await w.sandbox.faults(latency_ms=1500)  # every Open API call now takes 1.5 s
            msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
            await until(lambda: w.bot_answers(CHAT, msg_id))  # the first part is out
            proc.kill()
            assert len(await w.bot_answers(CHAT, msg_id)) < 3
            w.llm.reply = "另一个回答：重启之后 LLM 会写出不同的话。"  # the rest must come from the plan, not from this
            await w.sandbox.faults(latency_ms=0)
            await proc.start()
            await until(lambda: _count(w, msg_id, 3))
            await w.wait_drained()
            await asyncio.sleep(0.5)  # a late duplicate, if any, would land by now
            parts = await w.bot_answers(CHAT, msg_id)
            planned = reply_texts_for(Reply("zh", HUGE, "llm"))  # the parts of the first answer (sources aside)
            assert len(planned) == len(parts) == 3
            assert [m["text"] for m in parts[:2]] == planned[:2] and parts[2]["text"].startswith(planned[2])
            assert "另一个回答" not in "".join(m["text"] for m in parts)
            assert await no_plan_left(w, msg_id)
        finally:
            proc.stop()


async def test_sigkill_mid_stream_then_restart_finishes_the_same_card(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, lease=5.0) as w:
        w.llm.reply, w.llm.token_delay = LONG, 0.1  # about 15 s to write
        proc = AssistantProcess(w)
        await proc.start()
        try:
            msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
            [card] = await until(lambda: _updated(w, msg_id))
            proc.kill()
            assert "生成中…" in shown(card) and "改完配置要重启网关" not in shown(card)  # left half written
            w.llm.token_delay = 0.0
            await proc.start()
            await until(lambda: _finished(w, msg_id))
            await w.wait_drained()
            await asyncio.sleep(0.5)
            [final] = await w.bot_answers(CHAT, msg_id)
            assert final["message_id"] == card["message_id"] and not final["deleted"]
            text = shown(final)
            assert "改完配置要重启网关" in text and "来源\n[1] 02-configuration.md ›" in text and "生成中" not in text
            assert await no_plan_left(w, msg_id)
        finally:
            proc.stop()


async def test_sigkill_between_the_cards_of_a_long_streamed_answer_then_restart_sends_the_rest(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, lease=5.0) as w:
        w.llm.reply = BIG  # more than one card holds
        proc = AssistantProcess(w)
        await proc.start()
        try:
            msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
            await until(lambda: _updated(w, msg_id))
            await w.sandbox.faults(latency_ms=1500)  # the final update, then the second card, each take 1.5 s
            [head] = await until(lambda: _written(w, msg_id))  # the streamed card shows its final part
            proc.kill()
            assert len(await w.bot_answers(CHAT, msg_id)) == 1
            w.llm.reply = "另一个回答。"
            await w.sandbox.faults(latency_ms=0)
            await proc.start()
            await until(lambda: _count(w, msg_id, 2))
            await w.wait_drained()
            await asyncio.sleep(0.5)
            cards = await w.bot_answers(CHAT, msg_id)
            assert len(cards) == 2 and cards[0]["message_id"] == head["message_id"]
            first, second = (shown(c) for c in cards)
            assert "生成中" not in first and "来源" not in first
            assert first.startswith("Paragraph 0:") and second.startswith("Paragraph ") and BIG.count("Paragraph") == (
                first.count("Paragraph") + second.count("Paragraph"))  # all of it, once
            assert "来源\n[1] 02-configuration.md ›" in second and "另一个回答" not in first + second
            assert await no_plan_left(w, msg_id)
        finally:
            proc.stop()


async def _count(w: World, msg_id: str, n: int) -> bool:
    return len(await w.bot_answers(CHAT, msg_id)) >= n


async def _updated(w: World, msg_id: str) -> list[dict[str, Any]]:
    answers = await w.bot_answers(CHAT, msg_id)
    return answers if any(m["updates"] >= 1 for m in answers) else []


async def _written(w: World, msg_id: str) -> list[dict[str, Any]]:
    answers = await w.bot_answers(CHAT, msg_id)
    return answers if answers and all("生成中" not in shown(m) for m in answers) else []


async def _finished(w: World, msg_id: str) -> bool:
    return any("来源" in shown(m) for m in await w.bot_answers(CHAT, msg_id))

