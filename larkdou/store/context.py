"""The conversation context store: recent messages per chat and per thread, for answering follow-ups.

It lives in the assistant's store (`[assistant] store`: the ledger's SQLite file, or the same Redis),
never in process memory only, so any assistant instance can answer a follow-up. Two real
implementations share this contract (`SqliteContext`, `RedisContext`); the same tests run on both.

Contract
- `record(entry)`: keep one message (a user's, or one of the bot's answers). Idempotent per
  message_id: the first record wins. Each chat keeps its newest `keep` entries (by time, then id);
  an entry expires `ttl` seconds after it was recorded. Text is clipped to `MAX_TEXT` characters.
- `context(msg, limit)`: the earlier messages a reply to `msg` should see, oldest first, at most
  `limit`: first its parent chain (a reply to a bot answer → that answer → the question it answered
  → …), then the newest messages of its thread (and the thread's root), then, when `recent` (default:
  direct chats), the chat's newest messages of the last `RECENT_WINDOW_MS`. Never `msg` itself, nor
  anything recorded as later than `msg`.
- `entry(message_id)`: one entry, or None.
- `drop_bot(chat_id, message_ids=None)`: forget the bot's answers in a chat (all, or those ids) —
  what a recall took back must not come back as context. Returns how many were dropped.
- `forget_chat(chat_id)`: forget everything of a chat (`/forget`). Returns how many were dropped.
Each operation is one transaction (SQLite) or one Lua script (Redis): a crash leaves either all of
it or none.

Whether a message_id is one of the bot's is the ledger's to say (`Ledger.find_sent`), since it knows
every message the bot sent for a week; `replies_to_bot` asks it for a message's parent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

from larkdou.message import Message
from larkdou.store.base import Ledger
from larkdou.store.common import now_ms

ROLE_USER, ROLE_BOT = "user", "bot"
MAX_TEXT = 2000  # characters kept of one message
MAX_SOURCES = 8
MAX_SOURCE_CHARS = 200
DEFAULT_KEEP = 50  # entries per chat
DEFAULT_TTL = 24 * 3600.0  # seconds an entry is kept after it was recorded
RECENT_WINDOW_MS = 30 * 60 * 1000  # "recent" chat messages: of the last half hour before the message


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters, with an ellipsis when it was cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def thread_key(root_id: str, thread_id: str) -> str:
    """The key a message is filed under in its thread: the reply tree's root, else the thread id.

    Lark sets `root_id` on every reply and every thread message (reference §3), also when a reply
    opened a thread, so keying by the root keeps a question, the bot's answer and the follow-ups
    in one place whichever way they were replied to.
    """
    return root_id or thread_id


@dataclass
class ContextEntry:
    """One remembered message. For a bot answer, `parent_id` is the question it answered."""

    message_id: str
    chat_id: str
    role: str  # ROLE_USER | ROLE_BOT
    text: str
    sender: str = ""  # the user's open_id; "" for the bot
    thread: str = ""  # see `thread_key`; "" outside reply trees and threads
    parent_id: str = ""
    sources: list[str] = field(default_factory=list)  # cited sources, for bot answers
    at_ms: int = 0  # when it was written (Lark's create time), epoch ms; 0 = now

    @classmethod
    def user(cls, msg: Message) -> "ContextEntry":
        """A received message as it is remembered."""
        return cls(message_id=msg.msg_id, chat_id=msg.chat_id, role=ROLE_USER, text=msg.content,
                   sender=msg.user_id, thread=thread_key(msg.root_id, msg.thread_id), parent_id=msg.parent_id,
                   at_ms=msg.msg_time)

    @classmethod
    def bot(cls, question: Message, message_id: str, text: str, sources: Sequence[str] = (),
            at_ms: int = 0) -> "ContextEntry":
        """One of the bot's messages answering `question` (a reply to it, so in its reply tree)."""
        return cls(message_id=message_id, chat_id=question.chat_id, role=ROLE_BOT, text=text,
                   thread=thread_key(question.root_id, question.thread_id) or question.msg_id,
                   parent_id=question.msg_id, sources=list(sources), at_ms=at_ms)

    def bounded(self) -> "ContextEntry":
        """A copy within the stored limits (text, sources) with a time set."""
        sources = [clip(str(s), MAX_SOURCE_CHARS) for s in self.sources[:MAX_SOURCES]]
        return ContextEntry(self.message_id, self.chat_id, self.role, clip(self.text), self.sender, self.thread,
                            self.parent_id, sources, self.at_ms or now_ms())

    def dump_sources(self) -> str:
        return json.dumps(self.sources, ensure_ascii=False)

    @staticmethod
    def load_sources(raw: Any) -> list[str]:
        try:
            value = json.loads(raw) if raw else []
        except ValueError:
            return []
        return [str(s) for s in value] if isinstance(value, list) else []


@dataclass(frozen=True)
class ContextQuery:
    """What `context` looks up for one message; both backends follow it."""

    message_id: str
    chat_id: str
    parent_id: str
    threads: tuple[str, ...]  # thread keys to read (root id, thread id)
    root_id: str
    before_ms: int  # only entries at or before this time
    recent_since_ms: int  # chat entries since this time (-1: none)
    limit: int

    @classmethod
    def of(cls, msg: Message, limit: int, recent: bool | None) -> "ContextQuery":
        threads = tuple(dict.fromkeys(k for k in (msg.root_id, msg.thread_id) if k))
        if recent is None:
            recent = msg.chat_type == "p2p"
        before = msg.msg_time or now_ms()
        return cls(msg.msg_id, msg.chat_id, msg.parent_id, threads, msg.root_id, before,
                   before - RECENT_WINDOW_MS if recent else -1, max(0, limit))


def select(query: ContextQuery, chain: list[ContextEntry], thread: list[ContextEntry],
           recent: list[ContextEntry]) -> list[ContextEntry]:
    """Pick at most `query.limit` entries, by priority: the parent chain (nearest first, then the
    thread's root), then the thread's newest, then the chat's newest; returned oldest first. Drops the
    message itself, entries of other chats, and thread or chat entries later than the message."""
    picked: dict[str, ContextEntry] = {}
    for group, bounded in ((chain, False), (_newest_first(thread), True), (_newest_first(recent), True)):
        for e in group:
            if len(picked) >= query.limit:
                break
            if e.message_id == query.message_id or e.message_id in picked or e.chat_id != query.chat_id:
                continue
            if bounded and e.at_ms > query.before_ms:  # a parent is earlier whatever the clocks say
                continue
            picked[e.message_id] = e
    return sorted(picked.values(), key=lambda e: (e.at_ms, e.message_id))


def _newest_first(entries: list[ContextEntry]) -> list[ContextEntry]:
    return sorted(entries, key=lambda e: (e.at_ms, e.message_id), reverse=True)


@runtime_checkable
class ContextStore(Protocol):
    async def record(self, entry: ContextEntry) -> None: ...

    async def context(self, msg: Message, limit: int, *, recent: bool | None = None) -> list[ContextEntry]: ...

    async def entry(self, message_id: str) -> ContextEntry | None: ...

    async def drop_bot(self, chat_id: str, message_ids: Sequence[str] | None = None) -> int: ...

    async def forget_chat(self, chat_id: str) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


async def replies_to_bot(msg: Message, ledger: Ledger) -> bool:
    """True when `msg` replies to one of the bot's messages (so it is addressed to the bot)."""
    return bool(msg.parent_id) and await ledger.find_sent(msg.parent_id) is not None
