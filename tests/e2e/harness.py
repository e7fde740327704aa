"""The whole system on loopback: the sandbox (Lark), a real gateway, an OpenAI-compatible LLM stand-in,
and the assistant either in this loop (split mode, over /fetch) or as a real `larkdou assistant`
process that a test can SIGKILL and start again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import tomli_w

from larkdou.config import Settings, build_settings
from larkdou.gateway.app import create_app as create_gateway
from larkdou.sandbox.llm import LLMBehaviour
from larkdou.sandbox.llm import create_app as create_llm
from larkdou.serving import serving
from tests.assistant.stack import Sandbox, sandbox_only, stack_config
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class World:
    tmp: Path
    config_path: Path
    settings: Settings
    sandbox: Sandbox
    llm: LLMBehaviour
    gateway_url: str

    async def bot_answers(self, chat_id: str, source_msg_id: str) -> list[dict[str, Any]]:
        """The bot's replies to one message, recalled ones included."""
        return [m for m in await self.sandbox.bot_messages(chat_id) if m["parent_id"] == source_msg_id]

    async def wait_answered(self, chat_id: str, source_msg_id: str, timeout: float = 30) -> list[dict[str, Any]]:
        await self.sandbox.wait_for(chat_id, lambda items: any(
            m["parent_id"] == source_msg_id and m["sender"]["type"] == "app" for m in items), timeout)
        return await self.bot_answers(chat_id, source_msg_id)

    async def wait_drained(self, timeout: float = 30) -> None:
        """Until the gateway's queue holds nothing: every message fetched and acked."""
        async with httpx.AsyncClient(base_url=self.gateway_url) as http, asyncio.timeout(timeout):
            while True:
                depth = (await http.get("/healthz")).json()["depth"]
                if not any(depth.values()):
                    return
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def world(tmp_path: Path, kb_dir: Path | None, *, llm_latency: float = 0.0, lease: float = 30.0,
                kb: dict[str, Any] | None = None, groups: list[dict[str, Any]] | None = None, use_llm: bool = True,
                **assistant: Any) -> AsyncIterator[World]:
    """Sandbox + gateway + LLM stand-in; a config file the assistant (in or out of process) reads.
    `kb` adds `[kb]` keys, `groups` `[[groups]]` tables, the rest are `[assistant]` keys; without
    `use_llm` the stand-in runs but `[llm]` does not point at it (answers are excerpts)."""
    llm_app = create_llm(latency=llm_latency)
    async with serving(llm_app) as llm_url:
        data = stack_config(tmp_path, free_port(), free_port(), lease=lease, port=free_port(), **assistant)
        if use_llm:
            data["llm"] = {"base_url": f"{llm_url}/v1", "model": "test", "concurrency": 32, "retries": 0}
        if kb_dir is not None or kb:
            data["kb"] = {**({"dir": str(kb_dir)} if kb_dir is not None else {}), **(kb or {})}
        if groups:
            data["groups"] = groups
        config_path = tmp_path / "config.ini"
        config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
        settings = build_settings(data, source=str(config_path), base_dir=tmp_path, env={})
        async with serving(create_gateway(settings), port=settings.gateway.port) as gateway_url:
            async with sandbox_only(settings) as sandbox:
                yield World(tmp_path, config_path, settings, sandbox, llm_app.state.llm, gateway_url)


class AssistantProcess:
    """`larkdou assistant --config …` as a child process."""

    def __init__(self, w: World, *, standalone: bool = False, api_port: int | None = None,
                 name: str = "assistant"):
        """`api_port`: another port than the config's (a second assistant on the same stores), written
        to a config file of its own; `name`: its config and log file names."""
        self.world = w
        self.args = ["--standalone"] if standalone else []
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = w.config_path
        if api_port is not None:
            data = tomllib.loads(w.config_path.read_text(encoding="utf-8"))
            data["assistant"]["port"] = api_port
            self.config_path = w.tmp / f"{name}.ini"
            self.config_path.write_text(tomli_w.dumps(data), encoding="utf-8")
        self.url = f"http://127.0.0.1:{api_port or w.settings.assistant.port}"
        self.log = w.tmp / f"{name}.log"

    async def start(self, timeout: float = 60, *, until_healthy: bool = True) -> None:
        """Start the process; return once /healthz says 200 (or, not `until_healthy`, answers at all)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LARKDOU_")}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "larkdou", "assistant", "--config", str(self.config_path),
                 *self.args],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        async with httpx.AsyncClient(base_url=self.url) as http, asyncio.timeout(timeout):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"assistant exited with {self.proc.returncode}:\n{self.log.read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200 or not until_healthy:
                        return
                await asyncio.sleep(0.1)

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            r = await http.get("/healthz")
            return r.status_code, r.json()

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None and self.proc.poll() is None, "the assistant is not running"
        self.proc.send_signal(sig)

    async def exited(self, timeout: float = 30) -> int:
        """The exit status, once the process has ended by itself."""
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            while self.proc.poll() is None:
                await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
