"""`larkdou chats` against a real sandbox, as a user runs it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner, Result

from larkdou.cli import main
from larkdou.config import load_settings
from larkdou.kb import sample_docs_dir
from larkdou.kb.build import build_kb
from larkdou.kb.registry import kb_settings
from larkdou.lark.client import LarkApp, LarkClient
from tests.assistant.stack import APP_SECRET, sandbox_only, stack_config
from tests.conftest import free_port


def config_file(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A config file for a sandbox on a free port; returns its path and its content."""
    data = stack_config(tmp_path, free_port(), free_port())
    data["frontend"]["lark_group"]["recall_keywords"] = ["豆哥撤回", "撤回吧"]
    return rewrite(tmp_path / "config.ini", data), data


def rewrite(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


async def run_chats(*args: str) -> Result:
    """The command in a thread of its own (it runs its own event loop), as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, main, ["chats", *args])


async def new_chat(sandbox, name: str, chat_type: str = "group") -> str:  # type: ignore[no-untyped-def]
    r = await sandbox.http.post("/sandbox/chats", json={"name": name, "chat_type": chat_type})
    r.raise_for_status()
    return r.json()["chat_id"]


async def test_lists_the_bots_groups_with_their_settings(tmp_path: Path) -> None:
    path, data = config_file(tmp_path)
    settings = load_settings(path, env={})
    build_kb(kb_settings(settings, "ops"), sample_docs_dir(), progress=False)
    async with sandbox_only(settings) as sandbox:
        ops = await new_chat(sandbox, "运维群")
        await new_chat(sandbox, "alice", "p2p")  # a direct chat is not a group
        groups = [{"chat_id": ops, "mode": "mention", "kb": "ops", "recall_keywords": ["撤回"]},
                  {"chat_id": "oc_gone", "mode": "off"}, {"chat_id": "*", "kb": "general"}]
        rewrite(path, {**data, "groups": groups})
        default_chat = (await sandbox.http.get("/sandbox/info")).json()["default_chat_id"]

        r = await run_chats("--config", str(path))
        assert r.exit_code == 0, r.output
        lines = r.output.splitlines()
        assert lines[0] == "the bot is in 2 groups"
        assert lines[1].split() == ["CHAT_ID", "NAME", "MODE", "KB", "RECALL", "KEYWORDS", "SETTINGS"]
        ops_line = next(line for line in lines if line.startswith(ops))
        assert ops_line.split()[1:4] == ["运维群", "mention", "ops"] and "(built " in ops_line
        assert ops_line.split()[-2:] == ["撤回", "[[groups]]"]
        default_line = next(line for line in lines if line.startswith(default_chat))
        assert "auto" in default_line and "general (not built here)" in default_line
        assert "豆哥撤回, 撤回吧" in default_line and default_line.endswith("defaults")
        assert "alice" not in r.output
        assert "  oc_gone  mode off, kb general" in lines
        assert lines[-1] == "every other chat: mode auto, kb general, recall keywords 豆哥撤回, 撤回吧"
        # the column of names lines up although they are Chinese
        assert ops_line.index("mention") == default_line.index("auto")

        r = await run_chats("--config", str(path), "--json")
        assert r.exit_code == 0
        got = {row["chat_id"]: row for row in json.loads(r.output)}
        assert set(got) == {ops, default_chat, "oc_gone"}
        assert got[ops]["kb"] == "ops" and got[ops]["kb_built"] and got[ops]["configured"] and got[ops]["bot_in_chat"]
        assert got["oc_gone"]["bot_in_chat"] is False and got["oc_gone"]["mode"] == "off"
        assert got[default_chat]["recall_keywords"] == ["豆哥撤回", "撤回吧"] and not got[default_chat]["configured"]


async def test_wrong_credentials_are_one_line_without_the_secret(tmp_path: Path) -> None:
    path, data = config_file(tmp_path)
    async with sandbox_only(load_settings(path, env={})):
        data["frontend"]["lark_group"]["app_secret"] = "not-the-secret-xyz"
        r = await run_chats("--config", str(rewrite(path, data)))
    assert r.exit_code == 2 and "error: " in r.output and "app_id or app_secret is invalid" in r.output
    assert "not-the-secret-xyz" not in r.output and "Traceback" not in r.output


async def test_an_unreachable_lark_is_one_line(tmp_path: Path) -> None:
    path, data = config_file(tmp_path)  # no sandbox on that port
    data["lark"].update({"max_retries": 0})
    r = await run_chats("--config", str(rewrite(path, data)))
    assert r.exit_code == 2 and f"error: cannot reach Lark at {data['lark']['domain']}" in r.output
    assert "Traceback" not in r.output


async def test_all_pages_of_groups_are_listed(tmp_path: Path) -> None:
    path, _ = config_file(tmp_path)
    settings = load_settings(path, env={})
    assert settings.lark_group.app_secret.get_secret_value() == APP_SECRET
    async with sandbox_only(settings) as sandbox:
        made = {await new_chat(sandbox, f"群 {n}") for n in range(4)}
        async with LarkClient(LarkApp.from_settings(settings)) as client:
            items = await client.list_chats(page_size=2)
    ids = [chat.chat_id for chat in items]
    assert len(ids) == 5 and made <= set(ids)
    assert all(chat.name for chat in items)
