"""`豆哥撤回` in the sandbox: what the chat shows afterwards."""

from __future__ import annotations

import asyncio

import httpx

from larkdou.assistant.main import running
from tests.assistant.answerers import QuestionAnswerer
from tests.assistant.stack import open_stack, sandbox_only, stack_settings
from tests.conftest import free_port

CHAT, OTHER = "oc_recall_here", "oc_left_alone"


async def ask(sandbox, run, chat: str, text: str) -> str:  # type: ignore[no-untyped-def]
    msg_id = await sandbox.say(chat, text)
    assert (await run.worker.wait_handled(msg_id)).status == "answered"
    return msg_id


async def test_the_guides_scenario_recalls_everything_the_bot_said_in_that_chat_only(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer()) as (sandbox, run):
        for text in ("怎么安装 redis？", "encrypt key 是什么？"):
            await ask(sandbox, run, CHAT, text)
        await ask(sandbox, run, OTHER, "别的群的问题？")
        ids = [await sandbox.say(CHAT, t, user="bob") for t in ("1", "2", "3", "豆哥撤回")]
        outcomes = [await run.worker.wait_handled(i) for i in ids]
        assert [o.status for o in outcomes] == ["skipped", "skipped", "skipped", "recalled"]
        mine = await sandbox.bot_messages(CHAT)
        assert len(mine) == 2 and all(m["deleted"] for m in mine)
        users = [m for m in await sandbox.messages(CHAT) if m["sender"]["type"] == "user"]
        assert len(users) == 6 and not any(m["deleted"] for m in users)  # people's messages stay
        assert [m["deleted"] for m in await sandbox.bot_messages(OTHER)] == [False]
        async with httpx.AsyncClient(base_url=run.api_url) as http:
            assert "larkdou_recalled_total 2.0" in (await http.get("/metrics")).text


async def test_recalling_twice_is_harmless_and_later_questions_are_answered(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer()) as (sandbox, run):
        await ask(sandbox, run, CHAT, "第一个问题？")
        for _ in range(2):
            outcome = await run.worker.wait_handled(await sandbox.say(CHAT, "豆哥撤回"))
            assert outcome.status == "recalled"
        assert outcome.reason.startswith("0 recalled")
        later = await ask(sandbox, run, CHAT, "撤回之后的问题？")
        visible = await sandbox.visible_bot_messages(CHAT)
        assert [m["parent_id"] for m in visible] == [later]


async def test_recall_while_an_answer_is_generated_the_late_answer_never_appears(tmp_path):
    answerer = QuestionAnswerer(slow={"很慢的问题？": 30})
    async with open_stack(tmp_path, answerer) as (sandbox, run):
        slow = await sandbox.say(CHAT, "很慢的问题？")
        queued = await sandbox.say(CHAT, "排队的问题？")
        async with asyncio.timeout(10):
            while "很慢的问题？" not in answerer.started:
                await asyncio.sleep(0.01)
        recall = await sandbox.say(CHAT, "豆哥撤回")
        assert (await run.worker.wait_handled(recall)).status == "recalled"
        assert (await run.worker.wait_handled(slow)).reason == "recalled"
        assert (await run.worker.wait_handled(queued)).reason == "recalled"
        assert answerer.cancelled == ["很慢的问题？"] and "排队的问题？" not in answerer.started
        assert await sandbox.bot_messages(CHAT) == []  # not even briefly


async def test_a_slow_answer_elsewhere_does_not_delay_a_recall(tmp_path):
    answerer = QuestionAnswerer(slow={"另一个群的慢问题？": 30})
    async with open_stack(tmp_path, answerer, concurrency=1) as (sandbox, run):
        await ask(sandbox, run, CHAT, "快问题？")
        slow = await sandbox.say(OTHER, "另一个群的慢问题？")
        async with asyncio.timeout(10):
            while not answerer.in_flight.get(OTHER):
                await asyncio.sleep(0.01)
        recall = await sandbox.say(CHAT, "豆哥撤回")
        assert (await run.worker.wait_handled(recall, timeout=10)).status == "recalled"
        assert [m["deleted"] for m in await sandbox.bot_messages(CHAT)] == [True]
        assert answerer.cancelled == [] and slow not in [m["parent_id"] for m in await sandbox.messages(OTHER)]


async def test_a_full_assistant_leaves_answers_queued_for_others_but_still_takes_a_recall(tmp_path):
    slow = {f"慢问题 {i}？": 30 for i in range(4)}
    answerer = QuestionAnswerer(slow=slow)
    async with open_stack(tmp_path, answerer, concurrency=1) as (sandbox, run):  # holds 2 at most
        await ask(sandbox, run, CHAT, "快问题？")
        for i, text in enumerate(slow):
            await sandbox.say(f"oc_busy_{i}", text)
        async with httpx.AsyncClient(base_url=run.gateway_url, timeout=10) as gateway:
            async with asyncio.timeout(10):
                while (await gateway.get("/healthz")).json()["depth"] != {"recall": 0, "normal": 2, "leased": 2}:
                    await asyncio.sleep(0.05)
            recall = await sandbox.say(CHAT, "豆哥撤回")
            assert (await run.worker.wait_handled(recall, timeout=10)).status == "recalled"
            assert [m["deleted"] for m in await sandbox.bot_messages(CHAT)] == [True]
            assert (await gateway.get("/healthz")).json()["depth"]["normal"] == 2  # still there for others
        assert len(answerer.started) == 2  # the fast one, then one slow one; the next waits its turn


async def test_messages_past_the_recall_window_are_reported_not_fatal(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer()) as (sandbox, run):
        await ask(sandbox, run, CHAT, "旧的回答？")
        await sandbox.tune(recall_window_seconds=0.001)
        outcome = await run.worker.wait_handled(await sandbox.say(CHAT, "豆哥撤回"))
        assert outcome.status == "recalled" and "1 too old" in outcome.reason
        await sandbox.tune(recall_window_seconds=86400)
        await ask(sandbox, run, CHAT, "新的问题？")  # the loop goes on
        async with httpx.AsyncClient(base_url=run.api_url) as http:
            assert "larkdou_recall_too_old_total 1.0" in (await http.get("/metrics")).text


async def test_only_allowed_people_may_recall(tmp_path):
    settings = stack_settings(tmp_path, free_port(), free_port())
    async with sandbox_only(settings) as sandbox:
        await sandbox.say("oc_intro", "hi", user="boss")
        boss = (await sandbox.messages("oc_intro"))[0]["sender"]["open_id"]
        settings.frontend.lark_group.recall_allow = [boss]
        async with running(settings, standalone=True, answerer=QuestionAnswerer(), api_port=0) as run:
            await ask(sandbox, run, CHAT, "问题？")
            denied = await run.worker.wait_handled(await sandbox.say(CHAT, "豆哥撤回", user="intern"))
            assert denied.reason == "recall_not_allowed"
            assert [m["deleted"] for m in await sandbox.bot_messages(CHAT)] == [False]
            allowed = await run.worker.wait_handled(await sandbox.say(CHAT, "豆哥撤回", user="boss"))
            assert allowed.status == "recalled"
            assert [m["deleted"] for m in await sandbox.bot_messages(CHAT)] == [True]
