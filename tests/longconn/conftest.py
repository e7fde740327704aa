"""A real sandbox (Open API, event push, long-connection side) on loopback, and long connections
made with the official lark-oapi ws client, all in the test's own loop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
import pytest

from larkdou.config import Settings
from larkdou.gateway.ingest import Ingestor
from larkdou.lark.client import LarkApp
from larkdou.lark.longconn import LongConnection
from larkdou.sandbox.longconn import LongConnHub
from larkdou.sandbox.server import create_app as create_sandbox
from larkdou.serving import serving
from larkdou.store.base import Queue
from tests.assistant.stack import Sandbox, stack_settings
from tests.conftest import free_port

# Quick reconnects for tests; Lark's own defaults are minutes.
FAST = {"reconnect_interval": 1, "reconnect_nonce": 0, "ping_interval": 30}


def lc_settings(tmp_path: Path, *, gateway_store: str = "", ledger: str = "", **kw: Any) -> Settings:
    """Settings for long-connection mode against a sandbox on a free port."""
    settings = stack_settings(tmp_path, free_port(), free_port(), gateway_store=gateway_store, ledger=ledger, **kw)
    settings.frontend.lark_group.receive_mode = "long_connection"
    return settings


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    """Poll `check` until it returns something truthy; its value."""
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


@dataclass
class LcSandbox(Sandbox):
    hub: LongConnHub

    async def longconn(self, **settings: Any) -> dict[str, Any]:
        r = await self.http.post("/sandbox/longconn/settings", json=settings)
        r.raise_for_status()
        return r.json()

    async def clients(self) -> list[dict[str, Any]]:
        r = await self.http.get("/sandbox/longconn")
        r.raise_for_status()
        return r.json()["clients"]

    async def deliveries(self, message_id: str) -> list[dict[str, Any]]:
        r = await self.http.get("/sandbox/deliveries", params={"message_id": message_id})
        r.raise_for_status()
        return r.json()["items"]


@contextlib.asynccontextmanager
async def open_sandbox(settings: Settings) -> AsyncIterator[LcSandbox]:
    # nothing listens on the webhook callback: events can only arrive over the long connection
    app = create_sandbox(settings, callback=f"http://127.0.0.1:{free_port()}/event")
    async with serving(app, port=settings.sandbox.port) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            sandbox = LcSandbox(http, url, app.state.longconn)
            await sandbox.longconn(**FAST)
            yield sandbox


@contextlib.asynccontextmanager
async def open_longconn(settings: Settings, queue: Queue, *, wait: bool = True) -> AsyncIterator[LongConnection]:
    """A long connection feeding `queue` through the gateway's ingest path."""
    conn = LongConnection(LarkApp.from_settings(settings), Ingestor(settings, queue).ingest)
    conn.start()
    try:
        if wait:
            await eventually(lambda: _true(conn.connected))
        yield conn
    finally:
        await conn.aclose()


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return lc_settings(tmp_path)
