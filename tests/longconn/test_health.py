"""A standalone assistant receiving over the long connection: the connection is one of the
dependencies on the assistant's own /healthz, and losing it makes the assistant unavailable."""

from __future__ import annotations

from typing import Any

import httpx

from larkdou.assistant.main import running
from tests.assistant.answerers import QuestionAnswerer
from tests.longconn.conftest import eventually, open_sandbox


async def _health(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    r = await http.get("/healthz")
    return r.status_code, r.json()


async def test_the_assistants_healthz_follows_its_long_connection(settings):
    async with open_sandbox(settings) as sandbox, \
            running(settings, standalone=True, answerer=QuestionAnswerer(), api_port=0, gateway_port=0) as run, \
            httpx.AsyncClient(base_url=run.api_url, timeout=10) as http:
        async def status_is(code: int) -> bool:
            return (await _health(http))[0] == code

        await eventually(lambda: status_is(200))
        _, body = await _health(http)
        assert set(body["dependencies"]) == {"lark", "store", "queue", "long_connection"}
        assert body["long_connection"]["state"] == "connected" and body["long_connection"]["required"] is True

        await sandbox.longconn(accept=False)
        await sandbox.http.post("/sandbox/longconn/drop")
        await eventually(lambda: status_is(503))
        _, body = await _health(http)
        assert body["status"] == "unavailable" and body["store"] == "ok"
        assert body["dependencies"]["long_connection"]["state"] == "reconnecting"

        await sandbox.longconn(accept=True)
        await eventually(lambda: status_is(200))
        question = await sandbox.say("oc_chat1", "重连之后还能回答吗？")
        assert (await run.worker.wait_handled(question)).status == "answered"
