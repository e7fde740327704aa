"""Answers an LLM writes, streamed into a card, through the real gateway, assistant, sandbox and an
OpenAI-compatible stand-in that streams word by word: what the chat shows, and when.

A question put to the bot gets its card at once and sees it grow; any other group message gets a card
only once the text is clearly an answer (a decline never shows up); a recall mid-stream, here or on
another assistant, takes the card back and nothing is updated after it; an LLM failing mid-stream
leaves the excerpt from the documents (or, before anything was shown, silence)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from larkdou.assistant.main import running
from larkdou.sandbox.llm import pieces
from tests.assistant.stack import said
from tests.e2e.harness import World, world

CHAT = "oc_streams"
QUESTION = "加密 key 怎么配置？"
LONG = ("在 `[frontend.lark_group]` 里把 `encrypt_key` 设成飞书开发者后台“事件与回调 → 加密策略”里的 Encrypt Key，"
        "`verification_token` 设成同一页的 Verification Token [1]。网关收到事件后先验签再解密，密钥不对的事件"
        "会被拒绝并写进日志，不会进入队列 [1]。改完配置要重启网关；之后飞书推来的每个事件都按新的密钥解密，"
        "机器人照常回答群里的问题 [1]。")
DECLINE = "抱歉，文档中没有提到这个问题。"
SHORT = "网关默认监听 6666 端口 [1]。"


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["msg_type"] == "interactive", message["text"]
    return json.loads(message["content"])


def answer_md(message: dict[str, Any]) -> str:
    return card_of(message)["body"]["elements"][0]["content"]


async def first_answer(w: World, source: str) -> dict[str, Any]:
    """The bot's reply to `source`, as soon as there is one."""
    items = await w.sandbox.wait_for(CHAT, lambda items: any(
        m["parent_id"] == source and m["sender"]["type"] == "app" for m in items))
    return next(m for m in items if m["parent_id"] == source and m["sender"]["type"] == "app")


async def until(check, timeout: float = 30) -> Any:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not (value := await check()):
            await asyncio.sleep(0.02)
        return value


async def metric(run, name: str) -> str:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=run.api_url) as http:
        text = (await http.get("/metrics")).text
    return next(line for line in text.splitlines() if line.startswith(name))


async def test_an_answer_to_the_bot_streams_into_its_card(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb, llm_latency=1.0) as w, running(w.settings, api_port=0) as run:
        w.llm.reply, w.llm.token_delay = LONG, 0.02
        msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
        thinking = await first_answer(w, msg_id)  # there while the LLM has not said a word
        assert "思考中…" in said(thinking) and "说“豆哥撤回”可撤回我在本群的回答" in said(thinking)
        outcome = await run.worker.wait_handled(msg_id)
        [card] = await w.bot_answers(CHAT, msg_id)
        assert card["message_id"] == thinking["message_id"]  # the same card, updated
        # what the worker knows it said, e.g. to remember the exchange
        assert outcome.status == "answered" and outcome.messages == [card["message_id"]]
        assert outcome.reply is not None and outcome.reply.kind == "llm" and outcome.reply.body == LONG
        shown = said(card)
        assert "设成飞书开发者后台" in shown and "机器人照常回答群里的问题" in shown and "生成中" not in shown
        assert "来源\n[1] 02-configuration.md ›" in shown and shown.endswith("说“豆哥撤回”可撤回我在本群的回答")
        assert 2 <= card["updates"] < len(pieces(LONG))  # grew while written, a few updates, not one per word
        assert w.llm.requests[-1]["stream"] is True
        assert await metric(run, "larkdou_streamed_answers_total") == "larkdou_streamed_answers_total 1.0"


async def test_a_group_message_gets_a_card_only_once_the_text_is_clearly_an_answer(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb) as w, running(w.settings, api_port=0) as run:
        w.llm.token_delay = 0.02
        w.llm.reply = DECLINE  # a decline, word by word: never posted, not even for a moment
        declined = await w.sandbox.say(CHAT, QUESTION)
        assert (await run.worker.wait_handled(declined)).reason == "llm_declined"
        assert await w.sandbox.bot_messages(CHAT) == []
        asked = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)  # put to the bot: its card says so
        assert (await run.worker.wait_handled(asked)).status == "answered"
        [card] = await w.bot_answers(CHAT, asked)
        assert card_of(card)["header"]["title"]["content"] == "知识库里没有找到相关内容"
        assert "我的文档涵盖" in said(card) and "抱歉" not in said(card)

        w.llm.reply = SHORT  # short: posted once complete, as it is
        short = await w.sandbox.say(CHAT, "网关默认端口是多少？")
        assert (await run.worker.wait_handled(short)).status == "answered"
        [card] = await w.bot_answers(CHAT, short)
        assert card["updates"] == 0 and "6666" in answer_md(card) and "来源" in said(card)

        w.llm.reply = LONG  # long: streamed once past what a decline could be
        long = await w.sandbox.say(CHAT, "verification token 填在哪里？")
        assert (await run.worker.wait_handled(long)).status == "answered"
        [card] = await w.bot_answers(CHAT, long)
        assert card["updates"] >= 2 and "机器人照常回答群里的问题" in answer_md(card)


async def test_an_llm_failing_mid_stream_leaves_the_excerpt_or_nothing(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb) as w, running(w.settings, api_port=0) as run:
        w.llm.reply, w.llm.token_delay = LONG, 0.01
        w.llm.stream_fail_after = len(pieces(LONG)) - 20  # the card already shows most of the answer
        shown = await w.sandbox.say(CHAT, QUESTION)
        assert (await run.worker.wait_handled(shown)).status == "answered"
        [card] = await w.bot_answers(CHAT, shown)
        assert card["updates"] >= 1 and not card["deleted"]
        assert card_of(card)["header"]["title"]["content"] == "文档里是这样写的"  # the excerpt replaced it
        assert "encrypt_key" in answer_md(card) and "机器人照常" not in said(card)

        w.llm.stream_fail_after = 5  # broke before anything could be shown: silence
        silent = await w.sandbox.say(CHAT, "verification token 填在哪里？")
        assert (await run.worker.wait_handled(silent)).reason == "llm_error"
        assert await w.bot_answers(CHAT, silent) == []


async def test_an_addressed_question_still_gets_an_answer_when_the_llm_is_down(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb) as w, running(w.settings, api_port=0) as run:
        w.llm.fail_first = 1000
        msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [card] = await w.bot_answers(CHAT, msg_id)
        assert "思考中" not in said(card) and card["updates"] == 1  # the thinking card, then the excerpt
        assert card_of(card)["header"]["title"]["content"] == "文档里是这样写的" and "encrypt_key" in answer_md(card)


async def test_where_lark_refuses_cards_a_written_answer_is_said_as_text(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb) as w, running(w.settings, api_port=0) as run:
        await w.sandbox.faults(refuse_cards=True)
        w.llm.reply, w.llm.token_delay = LONG, 0.005
        msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [answer] = await w.bot_answers(CHAT, msg_id)
        assert answer["msg_type"] == "text" and "机器人照常回答群里的问题" in answer["text"]
        assert "来源\n[1] 02-configuration.md ›" in answer["text"]


async def test_reply_format_text_is_not_streamed(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb, reply_format="text") as w, running(w.settings, api_port=0) as run:
        w.llm.reply = LONG
        msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [answer] = await w.bot_answers(CHAT, msg_id)
        assert answer["msg_type"] == "text" and answer["text"].startswith(LONG[:20])
        assert "stream" not in w.llm.requests[-1]


async def test_a_recall_mid_stream_takes_the_card_back_and_nothing_is_updated_after_it(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb) as w, running(w.settings, api_port=0) as run:
        w.llm.reply, w.llm.token_delay = LONG, 0.05  # about 10 s to write
        msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
        await until(lambda: _updated(w, msg_id))
        recall = await w.sandbox.say(CHAT, "豆哥撤回", user="bob")
        assert (await run.worker.wait_handled(recall)).status == "recalled"
        assert (await run.worker.wait_handled(msg_id)).reason == "recalled"
        await until(lambda: _llm_idle(w))  # the LLM was let go, not left writing
        written = w.llm.streamed
        await asyncio.sleep(0.6)  # a stream still alive would update (and write) again by now
        [card] = await w.bot_answers(CHAT, msg_id)
        assert card["deleted"] and card["updates_after_recall"] == 0
        assert w.llm.streamed == written < len(pieces(LONG))


async def test_a_recall_on_another_assistant_stops_the_stream_here(tmp_path, sample_kb, store_url) -> None:
    async with world(tmp_path, sample_kb, store=store_url) as w:
        w.llm.reply, w.llm.token_delay = LONG, 0.05
        async with running(w.settings, api_port=0) as here:
            msg_id = await w.sandbox.say(CHAT, QUESTION, mention_bot=True)
            await until(lambda: _updated(w, msg_id))
            here.worker.stop()  # this one stops fetching (as in a rolling restart) and finishes what it has
            draining = asyncio.create_task(here.drain())
            async with running(w.settings, api_port=0) as there:
                recall = await w.sandbox.say(CHAT, "豆哥撤回", user="bob")
                assert (await there.worker.wait_handled(recall)).status == "recalled"
                assert (await here.worker.wait_handled(msg_id)).reason == "recalled"
                await draining
                await until(lambda: _llm_idle(w))
                [card] = await w.bot_answers(CHAT, msg_id)
                assert card["deleted"] and card["updates_after_recall"] <= 1  # the update that found it gone
                assert w.llm.streamed < len(pieces(LONG))
                assert await w.sandbox.visible_bot_messages(CHAT) == []


async def _updated(w: World, msg_id: str) -> bool:
    """The card has shown some of the answer."""
    return any(m["updates"] >= 1 for m in await w.bot_answers(CHAT, msg_id))


async def _llm_idle(w: World) -> bool:
    return w.llm.in_flight == 0
