"""Answering through the real sandbox and gateway routes: what ends up in the chat."""

from __future__ import annotations

import asyncio

import httpx

from larkdou.assistant.main import running
from larkdou.message import Message
from tests.assistant.answerers import QuestionAnswerer
from tests.assistant.stack import open_stack, said, sandbox_only, stack_settings
from tests.conftest import free_port

CHAT = "oc_group_a"


async def test_answers_a_question_quoting_it_and_stays_silent_on_chitchat(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer()) as (sandbox, run):
        question = await sandbox.say(CHAT, "怎么配置 encrypt key？")
        chitchat = await sandbox.say(CHAT, "今天中午吃什么")
        assert (await run.worker.wait_handled(question)).status == "answered"
        assert (await run.worker.wait_handled(chitchat)).reason == "chitchat"
        [answer] = await sandbox.bot_messages(CHAT)
        assert (answer["msg_type"], answer["parent_id"]) == ("interactive", question)  # a card, quoting it
        assert said(answer) == "答：怎么配置 encrypt key？\n\n说“豆哥撤回”可撤回我在本群的回答"
        async with httpx.AsyncClient(base_url=run.api_url) as http:
            metrics = (await http.get("/metrics")).text
        assert "larkdou_answered_total 1.0" in metrics
        assert 'larkdou_skipped_total{reason="chitchat"} 1.0' in metrics


async def test_mention_is_recognised_by_the_bots_open_id(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer()) as (sandbox, run):
        msg = await sandbox.say(CHAT, "看一下这个", mention_bot=True)
        assert (await run.worker.wait_handled(msg)).status == "answered"
        assert [m["parent_id"] for m in await sandbox.bot_messages(CHAT)] == [msg]


async def test_one_chat_in_order_many_chats_at_once(tmp_path):
    answerer = QuestionAnswerer(delay=0.4)
    async with open_stack(tmp_path, answerer, concurrency=3) as (sandbox, run):
        ordered = [await sandbox.say(CHAT, f"第{i}个问题？") for i in range(3)]
        others = [await sandbox.say(f"oc_other_{i}", f"别的群{i}？") for i in range(5)]
        for msg_id in ordered + others:
            assert (await run.worker.wait_handled(msg_id)).status == "answered"
        replies = await sandbox.bot_messages(CHAT)
        assert [m["parent_id"] for m in replies] == ordered
        assert answerer.most_in_one_chat == 1
        assert answerer.most_at_once == 3  # bounded by [assistant] concurrency, and reached


async def test_a_message_already_answered_is_not_answered_again(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer()) as (sandbox, run):
        msg_id = await sandbox.say(CHAT, "redis 怎么装？")
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [original] = [m for m in await sandbox.messages(CHAT) if m["message_id"] == msg_id]
        # the same message arriving once more past the gateway's dedup (another gateway, a replay)
        again = Message(msg_id=msg_id, group_id=CHAT, content="redis 怎么装？", user_id=original["sender"]["open_id"],
                        msg_time=int(original["create_time"]))
        assert await run.queue.enqueue(again, ["replay:1"])
        await asyncio.sleep(0)
        async with asyncio.timeout(10):
            while (await run.queue.depth()) != {"recall": 0, "normal": 0, "leased": 0}:
                await asyncio.sleep(0.05)
        assert len(await sandbox.bot_messages(CHAT)) == 1


async def test_the_bots_own_messages_are_ignored(tmp_path):
    answerer = QuestionAnswerer()
    async with open_stack(tmp_path, answerer) as (sandbox, run):
        own = Message(msg_id="om_from_bot", group_id=CHAT, content="我自己说的？", user_id=run.bot_open_id,
                      sender_type="app", msg_time=1)
        await run.queue.enqueue(own, ["msg:om_from_bot"])
        outcome = await run.worker.wait_handled("om_from_bot")
        assert outcome.reason == "own_message"
        assert answerer.started == [] and await sandbox.bot_messages(CHAT) == []


async def test_lease_running_out_during_a_slow_answer_still_gives_one_answer(tmp_path):
    answerer = QuestionAnswerer(delay=1.5)
    async with open_stack(tmp_path, answerer, lease=0.3) as (sandbox, run):
        msg_id = await sandbox.say(CHAT, "慢问题？")
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        await asyncio.sleep(0.8)  # let any redelivery come and be handled
        assert len(await sandbox.bot_messages(CHAT)) == 1
        assert answerer.started == ["慢问题？"]


async def test_an_assistant_stopped_mid_answer_is_replaced_and_answers_once(tmp_path):
    first = QuestionAnswerer(delay=30)
    second = QuestionAnswerer()
    settings = stack_settings(tmp_path, free_port(), free_port(), lease=0.5)
    async with sandbox_only(settings) as sandbox:
        async with running(settings, standalone=True, answerer=first, api_port=0):
            msg_id = await sandbox.say(CHAT, "谁来回答？")
            async with asyncio.timeout(10):
                while not first.started:
                    await asyncio.sleep(0.01)
        assert first.cancelled == ["谁来回答？"] and await sandbox.bot_messages(CHAT) == []
        async with running(settings, standalone=True, answerer=second, api_port=0) as run:
            assert (await run.worker.wait_handled(msg_id)).status == "answered"
        bot = await sandbox.bot_messages(CHAT)
        assert len(bot) == 1 and bot[0]["parent_id"] == msg_id
