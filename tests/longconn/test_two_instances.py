"""Two assistants on one Redis, each with its own long connection to the (sandbox) Lark: every
message is answered exactly once, and a recall takes back the chat's bot messages whichever
instance sent them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from larkdou.assistant.main import running
from tests.assistant.answerers import QuestionAnswerer
from tests.longconn.conftest import LcSandbox, eventually, lc_settings, open_sandbox

CHAT, OTHER = "oc_two_instances", "oc_other_chat"


def answers_by_question(messages: list[dict[str, Any]]) -> dict[str, int]:
    """How many bot replies each user message got."""
    counts: dict[str, int] = {}
    for m in messages:
        if m["sender"]["type"] == "app":
            counts[m["parent_id"]] = counts.get(m["parent_id"], 0) + 1
    return counts


async def all_answered(sandbox: LcSandbox, chat: str, questions: list[str]) -> bool:
    counts = answers_by_question(await sandbox.messages(chat))
    return all(counts.get(q, 0) >= 1 for q in questions)


async def test_two_instances_answer_each_message_once_and_recall_reaches_both(tmp_path: Path, redis_url: str):
    # one answer at a time per instance, each taking a moment: neither can hold all the work
    settings = lc_settings(tmp_path, gateway_store=redis_url, ledger=redis_url, concurrency=1)
    async with open_sandbox(settings) as sandbox, contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            running(settings, standalone=True, answerer=QuestionAnswerer(delay=0.05), api_port=0, gateway_port=0))
        await eventually(lambda: _count(sandbox, 1))
        early = [await sandbox.say(CHAT, f"只有 A 在线时的问题 {i}？") for i in range(3)]
        await eventually(lambda: all_answered(sandbox, CHAT, early))  # necessarily answered by A

        async with running(settings, standalone=True, answerer=QuestionAnswerer(delay=0.05), api_port=0,
                           gateway_port=0) as b:
            await eventually(lambda: _count(sandbox, 2))
            both = [await sandbox.say(chat, f"两个都在线时的问题 {i}？")
                    for i in range(16) for chat in (CHAT, OTHER)]
            await eventually(lambda: all_answered(sandbox, CHAT, both[0::2]))
            await eventually(lambda: all_answered(sandbox, OTHER, both[1::2]))
            clients = await sandbox.clients()
            assert all(c["events"] > 0 for c in clients)  # both long connections took events
            by_a, by_b = (r.worker.metrics.answered._value.get() for r in (a, b))
            assert by_a + by_b == 3 + 32 and by_a > 3 and by_b > 0  # both shared the work

            await stack.aclose()  # instance A goes away; B is left with everything A sent
            await eventually(lambda: _count(sandbox, 1))
            await sandbox.say(CHAT, "豆哥撤回", user="bob")

            async def chat_cleared() -> bool:
                mine = await sandbox.bot_messages(CHAT)
                return len(mine) == 3 + 16 and all(m["deleted"] for m in mine)

            await eventually(chat_cleared)

        for chat, asked in ((CHAT, early + both[0::2]), (OTHER, both[1::2])):
            counts = answers_by_question(await sandbox.messages(chat))
            assert counts == {q: 1 for q in asked}, f"{chat}: not exactly one answer each"
        assert not any(m["deleted"] for m in await sandbox.bot_messages(OTHER))  # other chat untouched


async def _count(sandbox: LcSandbox, n: int) -> bool:
    return len(await sandbox.clients()) == n
