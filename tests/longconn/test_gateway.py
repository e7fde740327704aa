"""The gateway in long-connection mode: sandbox → long connection → ingest → /fetch, with the
connection's state in /healthz and /metrics."""

from __future__ import annotations

import httpx
import pytest

from larkdou.config import Settings
from larkdou.errors import ConfigError
from larkdou.gateway.app import create_app
from larkdou.gateway.server import check_gateway_settings
from larkdou.serving import serving
from tests.factories import FETCH_TOKEN
from tests.longconn.conftest import eventually, open_sandbox

AUTH = {"Authorization": f"Bearer {FETCH_TOKEN}"}


async def _health(http: httpx.AsyncClient) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = await http.get("/healthz")
    return r.status_code, r.json()


async def test_messages_said_in_the_chat_are_fetched_from_the_gateway(settings: Settings):
    async with open_sandbox(settings) as sandbox, serving(create_app(settings)) as url, \
            httpx.AsyncClient(base_url=url, timeout=10) as http:
        async def healthy() -> bool:
            return (await _health(http))[0] == 200

        await eventually(healthy)
        status, body = await _health(http)
        assert body["long_connection"]["state"] == "connected"
        first = await sandbox.say("oc_chat1", "第一条")
        recall = await sandbox.say("oc_chat1", "豆哥撤回")

        async def fetched() -> dict:  # type: ignore[type-arg]
            return (await http.post("/fetch", params={"wait": 1}, headers=AUTH)).json()

        got = [await eventually(fetched), await eventually(fetched)]
        assert {g["msg_id"] for g in got} == {first, recall}
        assert [g["content"] for g in got if g["is_recall"]] == ["豆哥撤回"]
        for g in got:
            assert (await http.post("/ack", json={"delivery_id": g["delivery_id"]}, headers=AUTH)).json() == \
                {"acked": True}
        assert await fetched() == {}
        metrics = (await http.get("/metrics")).text
        assert "larkdou_longconn_connected 1.0" in metrics
        assert 'larkdou_longconn_events_total{outcome="enqueued"} 2.0' in metrics


async def test_a_lost_connection_shows_in_healthz_and_metrics_until_it_is_back(settings: Settings):
    async with open_sandbox(settings) as sandbox, serving(create_app(settings)) as url, \
            httpx.AsyncClient(base_url=url, timeout=10) as http:
        async def code_is(expected: int) -> bool:
            return (await _health(http))[0] == expected

        await eventually(lambda: code_is(200))
        await sandbox.longconn(accept=False)
        await sandbox.http.post("/sandbox/longconn/drop")
        await eventually(lambda: code_is(503))
        status, body = await _health(http)
        assert body["store"] == "ok" and body["long_connection"]["state"] == "reconnecting"
        assert "larkdou_longconn_connected 0.0" in (await http.get("/metrics")).text
        await sandbox.longconn(accept=True)
        await eventually(lambda: code_is(200))
        metrics = (await http.get("/metrics")).text
        assert "larkdou_longconn_reconnects_total 1.0" in metrics
        assert "larkdou_longconn_disconnects_total 1.0" in metrics


async def test_webhook_mode_opens_no_long_connection(settings: Settings):
    settings.frontend.lark_group.receive_mode = "webhook"
    async with open_sandbox(settings) as sandbox, serving(create_app(settings)) as url, \
            httpx.AsyncClient(base_url=url, timeout=10) as http:
        status, body = await _health(http)
        assert status == 200 and "long_connection" not in body
        assert await sandbox.clients() == []


def test_long_connection_mode_needs_the_app_secret_but_no_verification_token(settings: Settings):
    settings.frontend.lark_group.verification_token = ""  # type: ignore[assignment]
    check_gateway_settings(settings)
    settings.frontend.lark_group.app_secret = ""  # type: ignore[assignment]
    with pytest.raises(ConfigError, match=r"\[frontend.lark_group\] app_secret is required"):
        check_gateway_settings(settings)
