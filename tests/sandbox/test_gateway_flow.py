"""The sandbox's pushes flow into the real gateway: the URL challenge passes, encrypted and signed
events are accepted, and retried deliveries (the gateway stored it, its answer was lost) come out once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from larkdou.gateway.app import create_app as gateway_app
from larkdou.sandbox.server import create_app as sandbox_app
from larkdou.serving import serving
from tests.sandbox.conftest import make_settings, wait_until

FETCH = {"Authorization": "Bearer fetch-secret-for-tests"}


class LossyLink:
    """Forwards pushes to the gateway; for the next `drop` pushes, answers the sandbox with a 502
    although the gateway got the event (a lost answer, as on a flaky network)."""

    def __init__(self, target: str):
        self.target, self.drop, self.gateway_statuses = target, 0, []

    async def handle(self, request: Request) -> Response:
        async with httpx.AsyncClient() as client:
            resp = await client.post(self.target, content=await request.body(), headers=dict(request.headers))
        self.gateway_statuses.append(resp.status_code)
        if self.drop > 0:
            self.drop -= 1
            return Response(b"bad gateway", status_code=502)
        return Response(resp.content, status_code=resp.status_code, media_type="application/json")


async def fetch_all(gw: httpx.AsyncClient) -> list[dict[str, Any]]:
    out = []
    while (item := (await gw.post("/fetch", params={"wait": 0}, headers=FETCH)).json()):
        out.append(item)
        await gw.post("/ack", json={"delivery_id": item["delivery_id"]}, headers=FETCH)
    return out


async def test_sandbox_events_flow_into_the_gateway(tmp_path: Path) -> None:
    settings = make_settings(retry_scale=0.001, gateway={
        "store": f"sqlite:///{tmp_path / 'gateway.db'}", "fetch_token": FETCH["Authorization"][7:],
        "fetch_wait": 0})
    async with serving(gateway_app(settings)) as gurl:
        link = LossyLink(gurl + "/event")
        async with serving(Starlette(routes=[Route("/event", link.handle, methods=["POST"])])) as lurl:
            sandbox = sandbox_app(settings, callback=lurl + "/event")
            async with serving(sandbox) as surl, httpx.AsyncClient(base_url=surl) as sb, \
                    httpx.AsyncClient(base_url=gurl) as gw:
                challenge = (await sb.post("/sandbox/challenge")).json()
                assert challenge["ok"] is True, challenge

                chat = sandbox.state.sandbox.default_chat.chat_id
                link.drop = 2
                first = (await sb.post(f"/sandbox/chats/{chat}/messages",
                                       json={"user": "alice", "text": "怎么配置?", "mention_bot": True})).json()

                async def settled() -> list[dict[str, Any]]:
                    log = (await sb.get("/sandbox/deliveries", params={"event_id": first["event_id"]})).json()["items"]
                    return log if log and log[-1]["status"] == 200 else []

                log = await wait_until(settled)
                assert [d["status"] for d in log] == [502, 502, 200]  # delivered three times
                fetched = await fetch_all(gw)
                assert [m["msg_id"] for m in fetched] == [first["message_id"]]  # once, though pushed 3 times
                bot = sandbox.state.sandbox.bot.open_id
                assert [m["open_id"] for m in fetched[0]["mentions"]] == [bot]
                assert fetched[0]["event_id"] == first["event_id"] and fetched[0]["group_id"] == chat

                for text in ("1", "2", "3", "豆哥撤回"):
                    await sb.post(f"/sandbox/chats/{chat}/messages", json={"user": "bob", "text": text})
                await wait_until(lambda: len(link.gateway_statuses) == 3 + 4 + 1)
                assert set(link.gateway_statuses) == {200}
                assert [m["content"] for m in await fetch_all(gw)] == ["豆哥撤回", "1", "2", "3"]
