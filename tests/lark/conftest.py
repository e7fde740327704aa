"""A real sandbox on a loopback socket, and a client whose transport records what went over the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator

import httpx
import pytest

from larkdou.config import Settings, build_settings
from larkdou.lark.client import LarkApp, LarkClient
from larkdou.serving import serving

APP_ID = "cli_larkdou_client_test"
APP_SECRET = "app-secret-that-must-never-be-logged"


def make_settings(domain: str = "http://127.0.0.1:9", **lark: Any) -> Settings:
    """Settings for a client of (or a sandbox at) `domain`; quick backoff so retries stay short."""
    data = {
        "frontend": {"lark_group": {"app_id": APP_ID, "app_secret": APP_SECRET}},
        "lark": {"domain": domain, "retry_backoff": 0.01, "app_rate": 200.0, "chat_rate": 50.0, **lark},
        "sandbox": {"app_rate": 200.0, "chat_rate": 50.0},
    }
    return build_settings(data, env={})


def make_app(domain: str = "http://127.0.0.1:9", **lark: Any) -> LarkApp:
    """The client's own config for `domain` (see `make_settings`)."""
    return LarkApp.from_settings(make_settings(domain, **lark))


@dataclass
class Call:
    method: str
    path: str
    status: int
    rate_limited: bool
    authorization: str


class Recorder(httpx.AsyncBaseTransport):
    """A real HTTP transport that also keeps a list of every request and its answer."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.calls: list[Call] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.calls.append(Call(request.method, request.url.path, response.status_code,
                               "x-ogw-ratelimit-reset" in response.headers,
                               request.headers.get("authorization", "")))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    def count(self, method: str, path_part: str = "") -> int:
        return sum(1 for c in self.calls if c.method == method and path_part in c.path)

    @property
    def token_fetches(self) -> int:
        return self.count("POST", "tenant_access_token")


class Sandbox:
    """The sandbox's control API."""

    def __init__(self, url: str, http: httpx.AsyncClient):
        self.url = url
        self.http = http

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = await self.http.request(method, path, json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def info(self) -> dict[str, Any]:
        return await self._json("GET", "/sandbox/info")

    async def faults(self, **faults: Any) -> None:
        await self._json("POST", "/sandbox/faults", faults)

    async def clear_faults(self) -> None:
        await self._json("DELETE", "/sandbox/faults")

    async def tune(self, **values: Any) -> None:
        await self._json("POST", "/sandbox/settings", values)

    async def post(self, chat_id: str, text: str, user: str = "alice") -> str:
        return (await self._json("POST", f"/sandbox/chats/{chat_id}/messages", {"user": user, "text": text}))["message_id"]

    async def messages(self, chat_id: str) -> list[dict[str, Any]]:
        return (await self._json("GET", f"/sandbox/chats/{chat_id}/messages"))["items"]

    async def bot_messages(self, chat_id: str) -> list[dict[str, Any]]:
        return [m for m in await self.messages(chat_id) if m["sender"]["type"] == "app"]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    from larkdou.sandbox.server import create_app

    async with serving(create_app(make_settings())) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Sandbox(url, http)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def lark(sandbox: Sandbox, recorder: Recorder) -> AsyncIterator[LarkClient]:
    async with LarkClient(make_app(sandbox.url), transport=recorder) as client:
        yield client


@pytest.fixture
async def chat_id(sandbox: Sandbox) -> str:
    return (await sandbox.info())["default_chat_id"]
