"""`larkdou demo`: sandbox + gateway + assistant on the bundled sample knowledge base, in one process.

It writes a config with generated sandbox credentials into a work dir (temporary unless given),
builds the sample knowledge base, plays a short scripted conversation in a sandbox group, prints the
transcript, then keeps running and prints the sandbox page's URL so that you can chat with the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import tomli_w

from larkdou import logs
from larkdou.assistant.main import Running, running, until_signalled
from larkdou.config import Settings, build_settings
from larkdou.serving import check_free, serving

HOST = "127.0.0.1"


@dataclass
class Line:
    user: str
    text: str
    mention_bot: bool = False


SCRIPT = [
    Line("小明", "加密 key 怎么配置？"),
    Line("小红", "中午吃什么"),
    Line("小明", "1"),
    Line("小明", "2"),
    Line("小明", "3"),
    Line("小红", "豆哥撤回"),
]


def _port(preferred: int) -> int:
    """`preferred` when it is free on the loopback, else any free port."""
    for candidate in (preferred, 0):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((HOST, candidate))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError("no free port")


def demo_config(work_dir: Path, ports: tuple[int, int, int] | None = None,
                receive_mode: str = "webhook") -> dict[str, Any]:
    """A complete config for the demo: loopback ports (sandbox, gateway, assistant; by default 7777,
    6666 and 8888 when free), generated credentials, SQLite stores, events by webhook or long connection."""
    sandbox, gateway, assistant = ports or (_port(7777), _port(6666), _port(8888))
    return {
        "frontend": {
            "type": "lark_group",
            "webhook_url": f"http://{HOST}:{gateway}/fetch",
            "lark_group": {
                "app_id": "cli_demo" + secrets.token_hex(6),
                "app_secret": secrets.token_urlsafe(24),
                "encrypt_key": secrets.token_urlsafe(16),
                "verification_token": secrets.token_urlsafe(16),
                "receive_mode": receive_mode,
            },
        },
        "gateway": {"host": HOST, "port": gateway, "fetch_token": secrets.token_urlsafe(24),
                    "store": f"sqlite:///{work_dir / 'gateway.db'}", "fetch_wait": 1.0},
        "assistant": {"host": HOST, "port": assistant, "work_dir": str(work_dir),
                      "store": f"sqlite:///{work_dir / 'assistant.db'}", "fetch_wait": 1.0},
        "lark": {"domain": f"http://{HOST}:{sandbox}"},
        "sandbox": {"host": HOST, "port": sandbox, "callback": f"http://{HOST}:{gateway}/event"},
    }


def write_config(work_dir: Path, receive_mode: str | None = None) -> Settings:
    """Write `config.ini` into `work_dir` (kept when it exists; `receive_mode` then overrides its
    mode) and load it."""
    path = work_dir / "config.ini"
    if not path.exists():
        path.write_text(tomli_w.dumps(demo_config(work_dir, receive_mode=receive_mode or "webhook")),
                        encoding="utf-8")
    elif receive_mode:
        import tomllib

        data = tomllib.loads(path.read_text(encoding="utf-8"))
        data.setdefault("frontend", {}).setdefault("lark_group", {})["receive_mode"] = receive_mode
        path.write_text(tomli_w.dumps(data), encoding="utf-8")
    import tomllib

    return build_settings(tomllib.loads(path.read_text(encoding="utf-8")), source=str(path), base_dir=work_dir)


@contextlib.asynccontextmanager
async def demo_stack(settings: Settings) -> AsyncIterator[tuple[str, Running]]:
    """Sandbox, gateway and assistant on their loopback ports; yields (sandbox URL, the assistant)."""
    from larkdou.gateway.app import create_app as create_gateway
    from larkdou.sandbox.server import create_app as create_sandbox

    async with contextlib.AsyncExitStack() as stack:
        # the sandbox first: in long-connection mode the gateway connects to it at start
        callback = f"http://{HOST}:{settings.gateway.port}/event"
        sandbox_url = await stack.enter_async_context(serving(
            create_sandbox(settings, callback=callback), HOST, settings.sandbox.port,
            keys=(HOST, f"[sandbox] port in {settings.source}")))
        gw = await stack.enter_async_context(serving(
            create_gateway(settings), HOST, settings.gateway.port, keys=(HOST, f"[gateway] port in {settings.source}")))
        await _until_healthy(f"{gw}/healthz")
        assistant = await stack.enter_async_context(running(settings, api_host=HOST))
        yield sandbox_url, assistant


async def _until_healthy(url: str, timeout: float = 20.0) -> None:
    """Wait for the gateway's /healthz (store open and, in long-connection mode, connected)."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"the gateway is not healthy after {timeout:.0f} s: {url}")
            await asyncio.sleep(0.1)


async def play(sandbox_url: str, assistant: Running, script: list[Line] = SCRIPT,
               chat_id: str = "", out=print) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Post the script into a sandbox group (by default the one the sandbox page opens on), one line
    at a time, each handled before the next; print what happens; return the chat's final messages."""
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as http:
        if not chat_id:
            chat_id = (await http.get("/sandbox/info")).json()["default_chat_id"]
        for line in script:
            resp = await http.post(f"/sandbox/chats/{chat_id}/messages",
                                   json={"user": line.user, "text": line.text, "mention_bot": line.mention_bot,
                                         "chat_type": "group"})
            resp.raise_for_status()
            msg_id = resp.json()["message_id"]
            out(f"{line.user}: {line.text}")
            outcome = await assistant.worker.wait_handled(msg_id, timeout=120)
            for item in await _chat(http, chat_id):
                if item["parent_id"] == msg_id and item["sender"]["type"] == "app":
                    out(_indent(f"{item['sender']['name']}: {item['text']}"))
            if outcome.status == "recalled":
                out(f"    [{outcome.reason}]")
            elif outcome.status == "skipped":
                out(f"    (silent: {outcome.reason})")
        return await _chat(http, chat_id)


async def _chat(http: httpx.AsyncClient, chat_id: str) -> list[dict[str, Any]]:
    resp = await http.get(f"/sandbox/chats/{chat_id}/messages")
    resp.raise_for_status()
    return resp.json()["items"]


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def transcript(items: list[dict[str, Any]]) -> str:
    """The chat as a user sees it now: recalled messages are shown as such."""
    lines = []
    for item in items:
        who = item["sender"]["name"]
        lines.append(f"  {who}: (recalled)" if item["deleted"] else _indent(f"{who}: {item['text']}")[2:])
    return "\n".join(lines)


def _log_to_file(path: Path) -> None:
    """Keep the terminal for the transcript: warnings still show, the full log goes to `path`."""
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(max(handler.level, logging.WARNING))
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for flt in (f for h in root.handlers for f in h.filters):
        to_file.addFilter(flt)  # the secret scrubber
    root.addHandler(to_file)


async def _run(once: bool, work_dir: Path, receive_mode: str | None) -> None:
    settings = write_config(work_dir, receive_mode)
    logs.register_settings_secrets(settings)
    in_file = f" in {settings.source}"
    check_free((HOST, settings.sandbox.port, (HOST, "[sandbox] port" + in_file)),
               (HOST, settings.gateway.port, (HOST, "[gateway] port" + in_file)),
               (HOST, settings.assistant.port, (HOST, "[assistant] port" + in_file)))
    _log_to_file(work_dir / "demo.log")
    print(f"work dir: {work_dir} (log: demo.log)")
    from larkdou.kb import build_sample_kb

    await asyncio.to_thread(build_sample_kb, settings, progress=True)
    async with demo_stack(settings) as (sandbox_url, assistant):
        await until_signalled(_show(sandbox_url, assistant, settings, once))
    print("demo stopped")


async def _show(sandbox_url: str, assistant: Running, settings: Settings, once: bool) -> None:
    mode = settings.lark_group.receive_mode
    print(f"sandbox {sandbox_url}, gateway {settings.frontend.webhook_url}, assistant {assistant.api_url}")
    print(f"events from the sandbox by {mode.replace('_', ' ')}\n")
    items = await play(sandbox_url, assistant)
    print("\nthe group now:")
    print(transcript(items))
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=10) as http:
        pushes = (await http.get("/sandbox/deliveries")).json()["items"]
    over_ws = sum(1 for p in pushes if str(p.get("url", "")).startswith("longconn:"))
    print(f"\nevent pushes: {len(pushes)} ({over_ws} over the long connection, {len(pushes) - over_ws} by webhook)")
    if once:
        return
    print(f"\nOpen {sandbox_url}/ to chat with the bot (Ctrl-C to stop).")
    await asyncio.Event().wait()


def run(once: bool = False, work_dir: Path | None = None, receive_mode: str | None = None) -> None:
    """Entry point of `larkdou demo`."""
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="larkdou-demo-")))
        work_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(once, work_dir.resolve(), receive_mode))
