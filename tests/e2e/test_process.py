"""The assistant as a real process between the sandbox and a real gateway: the guide's scenario, and
SIGKILL at the worst moments followed by a restart."""

from __future__ import annotations

import asyncio
import tomllib

import tomli_w

from tests.assistant.stack import APP_SECRET
from tests.conftest import free_port
from tests.e2e.harness import AssistantProcess, world
from tests.factories import ENCRYPT_KEY, FETCH_TOKEN, VERIFICATION_TOKEN

CHAT, OTHER = "oc_guide_group", "oc_bystanders"
QUESTION = "加密 key 怎么配置？"


async def test_the_guides_scenario_answer_silence_and_recall(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, lease=5) as w:
        proc = AssistantProcess(w)
        await proc.start()
        try:
            elsewhere = await w.sandbox.say(OTHER, "verification token 填在哪里？")
            question = await w.sandbox.say(CHAT, QUESTION)
            [answer] = await w.wait_answered(CHAT, question)
            assert answer["text"].strip() and not answer["deleted"]
            await w.wait_answered(OTHER, elsewhere)
            chitchat = await w.sandbox.say(CHAT, "中午吃什么")
            for text in ("1", "2", "3", "豆哥撤回"):
                await w.sandbox.say(CHAT, text, user="bob")
            await w.sandbox.wait_for(CHAT, lambda items: any(
                m["sender"]["type"] == "app" and m["deleted"] for m in items))
            await w.wait_drained()
            assert await w.sandbox.visible_bot_messages(CHAT) == []
            assert await w.bot_answers(CHAT, chitchat) == []
            assert [m["deleted"] for m in await w.sandbox.bot_messages(OTHER)] == [False]
        finally:
            assert proc.stop() == 0  # SIGTERM is a clean stop
        log = proc.log.read_text(encoding="utf-8")
        assert "answered" in log and "recalled" in log
        for secret in (APP_SECRET, ENCRYPT_KEY, VERIFICATION_TOKEN, FETCH_TOKEN):
            assert secret not in log


async def test_sigkill_while_the_answer_is_generated_then_restart_answers_once(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, llm_latency=3.0, lease=1.0) as w:
        proc = AssistantProcess(w)
        await proc.start()
        try:
            question = await w.sandbox.say(CHAT, QUESTION)
            async with asyncio.timeout(30):
                while w.llm.calls < 1:
                    await asyncio.sleep(0.02)
            proc.kill()
            assert await w.bot_answers(CHAT, question) == []
            w.llm.latency = 0.1
            await proc.start()
            await w.wait_answered(CHAT, question)
            await w.wait_drained()
            assert len(await w.bot_answers(CHAT, question)) == 1
        finally:
            proc.stop()


async def test_sigkill_while_the_reply_is_on_its_way_then_restart_answers_once(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, lease=1.0) as w:
        proc = AssistantProcess(w)
        await proc.start()
        try:
            await w.sandbox.faults(latency_ms=1500)  # every Open API call now takes 1.5 s
            question = await w.sandbox.say(CHAT, QUESTION)
            async with asyncio.timeout(30):
                while w.llm.calls < 1:
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)  # the reply request is now inside the sandbox
            proc.kill()
            await w.sandbox.faults(latency_ms=0)
            await proc.start()
            await w.wait_answered(CHAT, question)
            await w.wait_drained()
            await asyncio.sleep(0.5)  # a late duplicate, if any, would land by now
            assert len(await w.bot_answers(CHAT, question)) == 1
        finally:
            proc.stop()


async def test_standalone_process_serves_the_gateway_routes_itself(tmp_path):
    async with world(tmp_path, None) as w:
        # no separate gateway in this deployment: the sandbox pushes to the assistant's own routes
        port = free_port()
        data = tomllib.loads(w.config_path.read_text(encoding="utf-8"))
        data["gateway"]["port"] = port
        w.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
        await w.sandbox.tune(callback=f"http://127.0.0.1:{port}/event")
        proc = AssistantProcess(w, standalone=True)
        await proc.start()
        try:
            question = await w.sandbox.say(CHAT, "网关默认端口是多少？", mention_bot=True)
            await w.wait_answered(CHAT, question)
            await w.sandbox.say(CHAT, "豆哥撤回")
            await w.sandbox.wait_for(CHAT, lambda items: any(m["deleted"] for m in items))
            assert await w.sandbox.visible_bot_messages(CHAT) == []
        finally:
            assert proc.stop() == 0
