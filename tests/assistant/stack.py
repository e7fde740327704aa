"""A real sandbox, gateway and assistant on loopback, in the test's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import httpx

from larkdou.assistant.main import Running, running
from larkdou.config import Settings, build_settings
from larkdou.lark.cards import card_as_text
from larkdou.sandbox.server import create_app as create_sandbox
from larkdou.serving import serving
from tests.conftest import free_port
from tests.factories import APP_ID, ENCRYPT_KEY, FETCH_TOKEN, VERIFICATION_TOKEN

APP_SECRET = "test-app-secret"


def stack_config(tmp_path: Path, sandbox_port: int, gateway_port: int, *, ledger: str = "",
                 gateway_store: str = "", lease: float = 30.0, max_attempts: int = 5,
                 lark: dict[str, Any] | None = None, kb: dict[str, Any] | None = None,
                 llm: dict[str, Any] | None = None, groups: list[dict[str, Any]] | None = None,
                 **assistant: Any) -> dict[str, Any]:
    """The config (as a TOML-ready dict) shared by the sandbox, the gateway and the assistant."""
    recall_allow = assistant.pop("recall_allow", [])
    reply_in_thread = assistant.pop("reply_in_thread", False)
    extra: dict[str, Any] = {"kb": kb or {}, "llm": llm or {}}
    if groups:
        extra["groups"] = groups
    return {
        "frontend": {
            "webhook_url": f"http://127.0.0.1:{gateway_port}/fetch",
            "lark_group": {"app_id": APP_ID, "app_secret": APP_SECRET, "encrypt_key": ENCRYPT_KEY,
                           "verification_token": VERIFICATION_TOKEN, "recall_allow": recall_allow,
                           "reply_in_thread": reply_in_thread},
        },
        "gateway": {"host": "127.0.0.1", "port": gateway_port, "fetch_token": FETCH_TOKEN, "fetch_wait": 1.0,
                    "lease_seconds": lease, "max_attempts": max_attempts,
                    "store": gateway_store or f"sqlite:///{tmp_path / 'gateway.db'}"},
        "assistant": {"host": "127.0.0.1", "work_dir": str(tmp_path), "fetch_wait": 1.0,
                      "store": ledger or f"sqlite:///{tmp_path / 'assistant.db'}", **assistant},
        "lark": {"domain": f"http://127.0.0.1:{sandbox_port}", **(lark or {})},
        "sandbox": {"host": "127.0.0.1", "port": sandbox_port},
        **extra,
    }


def stack_settings(tmp_path: Path, sandbox_port: int, gateway_port: int, **kw: Any) -> Settings:
    """Settings shared by the sandbox, the gateway and the assistant (see `stack_config`)."""
    return build_settings(stack_config(tmp_path, sandbox_port, gateway_port, **kw), base_dir=tmp_path, env={})


def said(message: dict[str, Any]) -> str:
    """What a message says, as a reader of the chat sees it: a card's title, text and notes."""
    if message["msg_type"] == "interactive":
        return card_as_text(json.loads(message["content"]))
    return message["text"]


@dataclass
class Sandbox:
    """The sandbox's control API, as a test uses it."""

    http: httpx.AsyncClient
    url: str

    async def say(self, chat_id: str, text: str, *, user: str = "alice", mention_bot: bool = False,
                  chat_type: str = "group", parent_id: str = "", in_thread: bool = False) -> str:
        """Post as `user`; with `parent_id` a reply quoting that message, `in_thread` in its thread."""
        r = await self.http.post(f"/sandbox/chats/{chat_id}/messages", json={
            "user": user, "text": text, "mention_bot": mention_bot, "chat_type": chat_type,
            "parent_id": parent_id, "in_thread": in_thread})
        r.raise_for_status()
        return r.json()["message_id"]

    async def messages(self, chat_id: str) -> list[dict[str, Any]]:
        r = await self.http.get(f"/sandbox/chats/{chat_id}/messages")
        if r.status_code == 404:  # no one has written there yet
            return []
        r.raise_for_status()
        return r.json()["items"]

    async def bot_messages(self, chat_id: str) -> list[dict[str, Any]]:
        """Every message the bot ever posted in the chat, recalled ones included."""
        return [m for m in await self.messages(chat_id) if m["sender"]["type"] == "app"]

    async def visible_bot_messages(self, chat_id: str) -> list[dict[str, Any]]:
        return [m for m in await self.bot_messages(chat_id) if not m["deleted"]]

    async def faults(self, **faults: Any) -> None:
        (await self.http.post("/sandbox/faults", json=faults)).raise_for_status()

    async def tune(self, **values: Any) -> None:
        (await self.http.post("/sandbox/settings", json=values)).raise_for_status()

    async def wait_for(self, chat_id: str, predicate, timeout: float = 30.0) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        """Poll the chat until `predicate(messages)` holds; returns the messages."""
        async with asyncio.timeout(timeout):
            while True:
                items = await self.messages(chat_id)
                if predicate(items):
                    return items
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def sandbox_only(settings: Settings) -> AsyncIterator[Sandbox]:
    app = create_sandbox(settings, callback=f"http://127.0.0.1:{settings.gateway.port}/event")
    async with serving(app, port=settings.sandbox.port) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield Sandbox(http, url)


@contextlib.asynccontextmanager
async def open_stack(tmp_path: Path, answerer, **kw: Any) -> AsyncIterator[tuple[Sandbox, Running]]:  # type: ignore[no-untyped-def]
    """Sandbox + standalone assistant (its gateway routes on the port the sandbox pushes to)."""
    settings = stack_settings(tmp_path, free_port(), free_port(), **kw)
    async with sandbox_only(settings) as sandbox:
        async with running(settings, standalone=True, answerer=answerer, api_port=0) as run:
            yield sandbox, run
