"""Lark misbehaving: redelivered events, expired tokens, rate limits, 5xx. The assistant runs in this
loop in split mode (fetching from the real gateway over HTTP) with the real answer pipeline."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from larkdou.assistant.main import running
from larkdou.serving import serving
from tests.e2e.harness import world

CHAT = "oc_faulty_lark"
QUESTIONS = ["加密 key 怎么配置？", "verification token 填在哪里？", "网关默认端口是多少？",
             "怎么修改撤回关键词？"]


def lossy_relay(target: str, lose: int) -> Starlette:
    """Passes events on to the gateway but loses its first `lose` answers (Lark then sees a failure
    and pushes the same event again)."""
    seen = {"n": 0}

    async def event(request: Request) -> Response:
        async with httpx.AsyncClient() as http:
            resp = await http.post(target, content=await request.body(), headers=dict(request.headers))
        seen["n"] += 1
        if seen["n"] <= lose:
            return Response(status_code=502)
        return Response(resp.content, status_code=resp.status_code, media_type="application/json")

    return Starlette(routes=[Route("/event", event, methods=["POST"])])


async def send_failures(api_url: str) -> str:
    async with httpx.AsyncClient(base_url=api_url) as http:
        return "\n".join(line for line in (await http.get("/metrics")).text.splitlines()
                         if line.startswith("larkdou_send_failures_total"))


async def test_an_event_lark_pushes_twice_is_answered_once(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb) as w:
        async with serving(lossy_relay(f"{w.gateway_url}/event", lose=1)) as relay:
            await w.sandbox.tune(callback=f"{relay}/event", retry_scale=0.01)
            async with running(w.settings, api_port=0) as run:
                question = await w.sandbox.say(CHAT, QUESTIONS[0])
                await w.wait_answered(CHAT, question)
                deliveries = (await w.sandbox.http.get("/sandbox/deliveries",
                                                       params={"message_id": question})).json()["items"]
                async with asyncio.timeout(10):
                    while len(deliveries) < 2 or deliveries[-1]["status"] != 200:
                        await asyncio.sleep(0.05)
                        deliveries = (await w.sandbox.http.get(
                            "/sandbox/deliveries", params={"message_id": question})).json()["items"]
                assert len({d["event_id"] for d in deliveries}) == 1  # the same event, twice
                await w.wait_drained()
                assert len(await w.bot_answers(CHAT, question)) == 1
                assert run.worker.busy is False


async def test_tokens_expiring_mid_run_are_refetched(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb) as w:
        async with running(w.settings, api_port=0) as run:
            first = await w.sandbox.say(CHAT, QUESTIONS[0])
            await w.wait_answered(CHAT, first)
            await w.sandbox.faults(expire_tokens=True)
            second = await w.sandbox.say(CHAT, QUESTIONS[1])
            await w.wait_answered(CHAT, second)
            await w.sandbox.faults(expire_tokens=True)
            recall = await w.sandbox.say(CHAT, "豆哥撤回")
            assert (await run.worker.wait_handled(recall)).status == "recalled"
            assert await w.sandbox.visible_bot_messages(CHAT) == []
            assert await send_failures(run.api_url) == ""


async def test_rate_limits_are_waited_out_not_failed(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb) as w:
        await w.sandbox.tune(chat_rate=1.0)  # Lark allows 5 sends/s per chat; here 1
        async with running(w.settings, api_port=0) as run:
            await w.sandbox.faults(rate_limit={"seconds": 1.5})  # the whole app is limited for a while
            asked = [await w.sandbox.say(CHAT, q) for q in QUESTIONS]
            for msg_id in asked:
                assert (await run.worker.wait_handled(msg_id)).status == "answered"
            replies = await w.sandbox.bot_messages(CHAT)
            assert [m["parent_id"] for m in replies] == asked  # one each, in order
            recall = await w.sandbox.say(CHAT, "豆哥撤回")
            assert (await run.worker.wait_handled(recall)).status == "recalled"
            assert await w.sandbox.visible_bot_messages(CHAT) == []
            assert await send_failures(run.api_url) == ""


async def test_lark_5xx_is_retried_and_an_outage_only_delays_the_answer(tmp_path, sample_kb):
    async with world(tmp_path, sample_kb, lease=1.0) as w:
        async with running(w.settings, api_port=0) as run:
            await w.sandbox.faults(error_count=2, error_status=502)  # retried inside the client
            first = await w.sandbox.say(CHAT, QUESTIONS[0])
            assert (await run.worker.wait_handled(first)).status == "answered"
            await w.sandbox.faults(error_rate=1.0, error_status=503)  # longer than the client retries
            second = await w.sandbox.say(CHAT, QUESTIONS[1])
            outcome = await run.worker.wait_handled(second, timeout=60)
            assert outcome.status == "retry" and not outcome.ack
            assert 'code="2200"' in await send_failures(run.api_url)
            await w.sandbox.faults(error_rate=0.0)
            await w.wait_answered(CHAT, second, timeout=60)
            await w.wait_drained()
            for msg_id in (first, second):
                assert len(await w.bot_answers(CHAT, msg_id)) == 1
