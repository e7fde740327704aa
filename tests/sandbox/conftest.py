"""Fixtures for the sandbox tests: a sandbox on a real loopback socket, and a small event receiver
that records every push and answers as the test scripts it (status codes, delays)."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from larkdou.config import Settings, build_settings
from larkdou.sandbox.server import create_app
from larkdou.sandbox.state import SandboxState
from larkdou.serving import serving



SEND = "/open-apis/im/v1/messages?receive_id_type=chat_id"


def text_body(chat_id: str, value: str, **kw: object) -> dict[str, object]:
    """The body of a text send, as lark-oapi writes it."""
    return {"receive_id": chat_id, "msg_type": "text", "content": json.dumps({"text": value}), **kw}

@dataclass
class Pushed:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each push with the next scripted (status, delay), then 200 at once."""

    url: str = ""
    pushes: list[Pushed] = field(default_factory=list)
    script: list[tuple[int, float]] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.pushes.append(Pushed(dict(request.headers), body))
        status, delay = self.script.pop(0) if self.script else (200, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse({"msg": "success"}, status_code=status)


@dataclass
class Sandbox:
    url: str
    state: SandboxState
    settings: Settings
    http: httpx.AsyncClient
    receiver: Receiver

    @property
    def creds(self) -> dict[str, str]:
        c = self.state.creds
        return {"app_id": c.app_id, "app_secret": c.app_secret}

    async def token(self) -> dict[str, str]:
        resp = await self.http.post("/open-apis/auth/v3/tenant_access_token/internal", json=self.creds)
        return {"Authorization": "Bearer " + resp.json()["tenant_access_token"]}

    async def post(self, text: str, *, user: str = "alice", chat_id: str | None = None, **kw: Any) -> dict[str, Any]:
        chat_id = chat_id or self.state.default_chat.chat_id
        resp = await self.http.post(f"/sandbox/chats/{chat_id}/messages", json={"user": user, "text": text, **kw})
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def reply(self, message_id: str, text: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
        body = {"msg_type": "text", "content": json.dumps({"text": text}), **kw}
        return await self.http.post(f"/open-apis/im/v1/messages/{message_id}/reply", json=body, headers=headers)

    async def messages(self, chat_id: str | None = None) -> list[dict[str, Any]]:
        chat_id = chat_id or self.state.default_chat.chat_id
        return (await self.http.get(f"/sandbox/chats/{chat_id}/messages")).json()["items"]

    async def deliveries(self, **params: str) -> list[dict[str, Any]]:
        return (await self.http.get("/sandbox/deliveries", params=params)).json()["items"]


def make_settings(*, gateway: dict[str, Any] | None = None, **sandbox: Any) -> Settings:
    """A fresh app per test (lark-oapi caches tokens per app_id process-wide)."""
    group = {"app_id": "cli_" + secrets.token_hex(8), "app_secret": secrets.token_urlsafe(16),
             "encrypt_key": "ek-" + secrets.token_hex(8), "verification_token": "vt-" + secrets.token_hex(8)}
    return build_settings({"frontend": {"lark_group": group}, "sandbox": sandbox, "gateway": gateway or {}},
                          env={})


async def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `check()` is truthy; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = Starlette(routes=[Route("/event", rec.handle, methods=["POST"])])
    async with serving(app) as url:
        rec.url = url + "/event"
        yield rec


@pytest.fixture
async def sandbox(receiver: Receiver) -> AsyncIterator[Sandbox]:
    settings = make_settings(retry_scale=0.001)
    app = create_app(settings, callback=receiver.url)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Sandbox(url, app.state.sandbox, settings, http, receiver)


CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def page(browser: Browser, sandbox: Sandbox) -> AsyncIterator[Page]:
    pg = await browser.new_page()
    await pg.goto(sandbox.url + "/")
    await expect(pg.locator("#live.on")).to_be_visible()  # the live update stream is connected
    try:
        yield pg
    finally:
        await pg.close()  # before the sandbox stops: ends the stream
