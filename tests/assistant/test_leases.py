"""Leases as the chat sees them: a slow answer keeps its message (two assistants, one queue), and a
recall that Lark refuses for good is not retried while a transient failure is, up to the cap."""

from __future__ import annotations

import asyncio

from larkdou.assistant.main import running
from larkdou.gateway.app import create_app as create_gateway
from larkdou.serving import serving
from larkdou.store import SentMessage
from tests.assistant.answerers import QuestionAnswerer
from tests.assistant.stack import open_stack, sandbox_only, stack_settings
from tests.conftest import free_port

CHAT = "oc_leases"


async def test_an_answer_slower_than_the_lease_is_written_once_with_two_assistants(tmp_path, store_url):
    first, second = QuestionAnswerer(delay=2.0), QuestionAnswerer(delay=2.0)
    settings = stack_settings(tmp_path, free_port(), free_port(), lease=0.6, gateway_store=store_url)
    async with sandbox_only(settings) as sandbox, serving(create_gateway(settings), port=settings.gateway.port):
        async with running(settings, answerer=first, api_port=0) as a, \
                running(settings, answerer=second, api_port=0) as b:
            msg_id = await sandbox.say(CHAT, "要写很久的问题？")
            waits = [asyncio.create_task(run.worker.wait_handled(msg_id)) for run in (a, b)]
            done, pending = await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            assert done and next(iter(done)).result().status == "answered"
            await asyncio.sleep(1.5)  # more than two more leases: a redelivery would have started by now
            for task in pending:
                task.cancel()
            assert first.started + second.started == ["要写很久的问题？"]
            assert len(await sandbox.bot_messages(CHAT)) == 1


async def test_a_recall_lark_refuses_for_good_is_recorded_and_not_retried(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer(), lease=0.5) as (sandbox, run):
        answered = await sandbox.say(CHAT, "先回答一个问题？")
        assert (await run.worker.wait_handled(answered)).status == "answered"
        # a ledger entry Lark will refuse with 230001 (not a message id) whatever happens
        await run.ledger.record_sent(SentMessage("not-a-message-id", CHAT, "om_x"))
        outcome = await run.worker.wait_handled(await sandbox.say(CHAT, "豆哥撤回"))
        assert outcome.status == "recalled"
        assert all(m["deleted"] for m in await sandbox.bot_messages(CHAT))
        assert await run.ledger.sent_in_chat(CHAT) == []  # refused for good: not tried again
        await asyncio.sleep(0.8)  # past the lease: the command was acked, nothing comes back
        assert await run.queue.depth() == {"recall": 0, "normal": 0, "leased": 0}
        assert await run.queue.dead_count() == 0


async def test_a_recall_failing_transiently_is_retried_up_to_the_cap_then_parked(tmp_path):
    async with open_stack(tmp_path, QuestionAnswerer(), lease=0.4, max_attempts=2,
                          lark={"max_retries": 0}) as (sandbox, run):
        answered = await sandbox.say(CHAT, "要撤回的回答？")
        assert (await run.worker.wait_handled(answered)).status == "answered"
        await sandbox.faults(error_status=503, error_count=1000)
        await sandbox.say(CHAT, "豆哥撤回")
        async with asyncio.timeout(20):
            while await run.queue.dead_count() == 0:
                await asyncio.sleep(0.05)
        [parked] = await run.queue.dead_letters()
        assert parked.message.is_recall and parked.attempts == 2
        assert [m["deleted"] for m in await sandbox.bot_messages(CHAT)] == [False]
        # Lark is back: the operator retries the command and the answer is taken back
        await sandbox.http.delete("/sandbox/faults")
        assert await run.queue.retry_dead([parked.id]) == [parked.id]
        await sandbox.wait_for(CHAT, lambda items: all(m["deleted"] for m in items if m["sender"]["type"] == "app"))
