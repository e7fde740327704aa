"""`larkdou chats`: the groups the bot is in, with the settings that apply in each.

It asks Lark (`GET /open-apis/im/v1/chats`, with the app's credentials) which groups the bot is in,
and prints each with its effective mode, knowledge base (and whether that is built here) and recall
keywords; then the `[[groups]]` tables whose chat the bot is not in (a typo, or the bot was removed),
and what applies to every other chat.
"""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
from dataclasses import asdict, dataclass

import click

from larkdou.cli.common import CONFIG_HELP, load
from larkdou.config import Settings, require
from larkdou.errors import LarkdouError, LarkServerError
from larkdou.groups import ANY_CHAT
from larkdou.lark.client import ChatInfo


@dataclass
class ChatRow:
    chat_id: str
    name: str
    mode: str
    kb: str
    kb_built: str  # "" when not built here, else when (local time)
    recall_keywords: list[str]
    recall_allow: list[str]
    configured: bool  # a [[groups]] table names it
    bot_in_chat: bool


async def _bot_groups(settings: Settings) -> list[ChatInfo]:
    from larkdou.lark.client import LarkApp, LarkClient

    async with LarkClient(LarkApp.from_settings(settings)) as client:
        try:
            return await client.list_chats()
        except LarkServerError as exc:
            raise LarkdouError(f"cannot reach Lark at {settings.lark.domain} ([lark] domain): {exc.msg}") from None


def rows(settings: Settings, groups: list[ChatInfo]) -> list[ChatRow]:
    """One row per group the bot is in, then one per `[[groups]]` table whose chat it is not in."""
    from larkdou.kb.registry import kb_info

    built: dict[str, str] = {}

    def when(kb: str) -> str:
        if kb not in built:
            info = kb_info(settings, kb)
            built[kb] = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.built_at)) if info else ""
        return built[kb]

    def row(chat_id: str, name: str, in_chat: bool) -> ChatRow:
        s = settings.for_chat(chat_id)
        return ChatRow(chat_id, name, s.mode, s.kb, when(s.kb), list(s.recall_keywords), list(s.recall_allow),
                       s.configured, in_chat)

    seen = {g.chat_id for g in groups}
    out = [row(g.chat_id, g.name, True) for g in groups]
    out += [row(g.chat_id, "", False) for g in settings.groups if g.chat_id != ANY_CHAT and g.chat_id not in seen]
    return out


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    widths = [max(_width(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    return ["  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths)).rstrip() for cells in [header, *lines]]


def _kb_cell(r: ChatRow) -> str:
    return f"{r.kb} (built {r.kb_built})" if r.kb_built else f"{r.kb} (not built here)"


def render(settings: Settings, table: list[ChatRow]) -> list[str]:
    """The lines `larkdou chats` prints."""
    inside = [r for r in table if r.bot_in_chat]
    missing = [r for r in table if not r.bot_in_chat]
    out = [f"the bot is in {len(inside)} group{'' if len(inside) == 1 else 's'}"]
    if inside:
        out += _table(["CHAT_ID", "NAME", "MODE", "KB", "RECALL KEYWORDS", "SETTINGS"],
                      [[r.chat_id, r.name, r.mode, _kb_cell(r), ", ".join(r.recall_keywords),
                        "[[groups]]" if r.configured else "defaults"] for r in inside])
    if missing:
        out += ["", "[[groups]] tables whose chat the bot is not in (add the bot there, or fix the chat_id):"]
        out += [f"  {r.chat_id}  mode {r.mode}, kb {r.kb}" for r in missing]
    rest = settings.for_chat("")
    out += ["", f"every other chat: mode {rest.mode}, kb {rest.kb}, recall keywords {', '.join(rest.recall_keywords)}"
                + (f", recall allowed for {', '.join(rest.recall_allow)}" if rest.recall_allow else "")]
    return out


@click.command()
@click.option("--config", "config", default=None, help=CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="print JSON (one object per chat) instead of a table")
def chats(config: str | None, as_json: bool) -> None:
    """List the groups the bot is in, with their mode, knowledge base and recall keywords."""
    settings = load(config)
    require(settings, "frontend.lark_group.app_id", "frontend.lark_group.app_secret")
    table = rows(settings, asyncio.run(_bot_groups(settings)))
    if as_json:
        click.echo(json.dumps([asdict(r) for r in table], ensure_ascii=False, indent=2))
        return
    for line in render(settings, table):
        click.echo(line)
