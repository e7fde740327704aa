"""The gateway's /healthz: each dependency with its state; a store that is not there at start is
waited for, and /healthz says so until it is."""

from __future__ import annotations

import asyncio

import httpx

from larkdou.config import build_settings
from larkdou.gateway.app import create_app
from larkdou.serving import serving
from tests.factories import settings_dict


async def test_a_store_down_at_start_is_waited_for_and_healthz_says_so(own_redis):
    own_redis.stop()
    async with serving(create_app(build_settings(settings_dict(f"{own_redis.url}/0"), env={}))) as base, \
            httpx.AsyncClient(base_url=base, timeout=10) as http:
        r = await http.get("/healthz")
        body = r.json()
        assert r.status_code == 503 and body["status"] == "starting" and body["waiting_for"] == ["store"]
        assert body["store"] == "waiting" and body["dependencies"]["store"]["state"] == "waiting"
        own_redis.start()
        async with asyncio.timeout(30):
            while (r := await http.get("/healthz")).status_code != 200:
                await asyncio.sleep(0.1)
        body = r.json()
        assert body["status"] == "ok" and body["store"] == "ok" and body["waiting_for"] == []
        assert body["dependencies"] == {"store": {"state": "ok", "ok": True, "required": True}}
        assert body["depth"] == {"recall": 0, "normal": 0, "leased": 0}

        own_redis.kill()  # gone after start: down, not waited for
        r = await http.get("/healthz")
        body = r.json()
        assert r.status_code == 503 and body["status"] == "unavailable" and body["store"] == "unreachable"
        assert body["dependencies"]["store"]["state"] == "down"
