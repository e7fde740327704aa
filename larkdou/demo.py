"""`larkdou demo`: sandbox + gateway + assistant on the bundled sample knowledge base, in one process.

It writes a config with generated sandbox credentials into a work dir (temporary unless given),
builds the sample knowledge base, plays a short scripted conversation in a sandbox group, prints the
transcript, then keeps running and prints the sandbox page's URL so that you can chat with the bot.
Replies are Lark cards (the transcript shows what they say). With `--llm` an OpenAI-compatible
stand-in (`larkdou.sandbox.llm`) writes the answers from the documents' passages, a word every
`--llm-delay` seconds, and they are streamed into their cards: watch them grow on the sandbox page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
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
from larkdou.lark.cards import card_as_text
from larkdou.serving import check_free, serving

HOST = "127.0.0.1"
LLM_DELAY = 0.05  # seconds between the words of an answer the LLM stand-in writes (`--llm`)


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


_PASSAGE = re.compile(r"^\[(\d+)\] \(.*?\)\n(.+?)(?=\n\n\[\d+\] \(|\n\nQuestion: |\Z)", re.MULTILINE | re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[。！？])|(?<=[.!?])(?=\s)")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def demo_reply(messages: list[dict[str, Any]]) -> str:
    """What the LLM stand-in answers in the demo: the first sentences (before any code) of the prompt's
    first passage in the question's language, cited; "NO_ANSWER" without passages."""
    from larkdou.answer.prompt import NO_ANSWER

    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    zh = bool(_CJK.search(user.rsplit("Question: ", 1)[-1]))
    passages = _PASSAGE.findall(user)
    passages = [p for p in passages if bool(_CJK.search(p[1])) == zh] or passages
    if not passages:
        return NO_ANSWER
    number, text = passages[0]
    sentences = [x for x in _SENTENCE_END.split(" ".join(text.split("```")[0].split())) if x.strip()]
    return "".join(sentences[:4]).strip() + f" [{number}]"


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
                    out(_indent(f"{item['sender']['name']}: {said(item)}"))
            if outcome.status == "recalled":
                out(f"    [{outcome.reason}]")
            elif outcome.status == "skipped":
                out(f"    (silent: {outcome.reason})")
        return await _chat(http, chat_id)


async def _chat(http: httpx.AsyncClient, chat_id: str) -> list[dict[str, Any]]:
    resp = await http.get(f"/sandbox/chats/{chat_id}/messages")
    resp.raise_for_status()
    return resp.json()["items"]


def said(item: dict[str, Any]) -> str:
    """What a sandbox message says to a reader: a card's title, text and notes, or the text."""
    if item.get("msg_type") == "interactive":
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            return card_as_text(json.loads(item["content"]))
    return item["text"]


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def transcript(items: list[dict[str, Any]]) -> str:
    """The chat as a user sees it now: recalled messages are shown as such."""
    lines = []
    for item in items:
        who = item["sender"]["name"]
        lines.append(f"  {who}: (recalled)" if item["deleted"] else _indent(f"{who}: {said(item)}")[2:])
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


@contextlib.asynccontextmanager
async def llm_stand_in(settings: Settings, delay: float) -> AsyncIterator[str]:
    """The LLM stand-in on a free loopback port, `[llm]` pointed at it; yields its URL."""
    from larkdou.sandbox.llm import create_app as create_llm

    async with serving(create_llm(reply=demo_reply, token_delay=delay), HOST, 0) as url:
        settings.llm.base_url, settings.llm.model, settings.llm.max_tokens = f"{url}/v1", "larkdou-stand-in", 1024
        yield url


async def _run(once: bool, work_dir: Path, receive_mode: str | None, llm_delay: float | None) -> None:
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
    async with contextlib.AsyncExitStack() as stack:
        if llm_delay is not None:
            url = await stack.enter_async_context(llm_stand_in(settings, llm_delay))
            print(f"LLM stand-in {url}/v1: answers from the passages, a word every {llm_delay:g} s, streamed into cards")
        sandbox_url, assistant = await stack.enter_async_context(demo_stack(settings))
        await until_signalled(_show(sandbox_url, assistant, settings, once))
    print("demo stopped")


async def _show(sandbox_url: str, assistant: Running, settings: Settings, once: bool) -> None:
    mode = settings.lark_group.receive_mode
    print(f"sandbox {sandbox_url}, gateway {settings.frontend.webhook_url}, assistant {assistant.api_url}")
    replies = "Lark cards" if settings.assistant.reply_format == "card" else "plain text"
    writer = (f"written by the LLM at {settings.llm.base_url}" if settings.llm.base_url
              else "quoted from the documents (larkdou demo --llm: written by an LLM stand-in, streamed)")
    print(f"events from the sandbox by {mode.replace('_', ' ')}; replies as {replies}, {writer}\n")
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


def run(once: bool = False, work_dir: Path | None = None, receive_mode: str | None = None,
        llm_delay: float | None = None) -> None:
    """Entry point of `larkdou demo`; `llm_delay`: run the LLM stand-in, a word every so many seconds."""
    with contextlib.ExitStack() as stack:
        if work_dir is None:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="larkdou-demo-")))
        work_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run(once, work_dir.resolve(), receive_mode, llm_delay))
