"""Everything the sandbox knows, in memory, in one object shared by the Open API, the event push
and the web page: the app's credentials and tokens, chats, messages, uuids, limits and faults.

Choices where Lark's behaviour is unverified (reference §7), so clients must cope with either:
- a duplicate `uuid` within an hour returns the original message with code 0 and posts nothing;
- recalling an already recalled message gives 230011; an unknown but well-formed id gives 231003;
- a bot may send to any well-formed `oc_` chat id: the chat is created on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from larkdou.config import SandboxConfig
from larkdou.sandbox import content
from larkdou.sandbox.limits import Faults, RateLimits

UUID_TTL = 3600.0
CHAT_ID = re.compile(r"^oc_[A-Za-z0-9_-]{1,64}$")
MESSAGE_ID = re.compile(r"^om_[A-Za-z0-9_-]{1,64}$")


class ApiFailure(Exception):
    """An Open API refusal: Lark `code` and `msg`, the HTTP status and extra headers."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(msg)
        self.code, self.msg, self.status, self.headers = code, msg, status, headers or {}


class Tunables(BaseModel):
    """Settings that tests change at run time (`POST /sandbox/settings`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    recall_window_seconds: float = Field(gt=0)
    token_ttl_seconds: float = Field(gt=0)
    retry_scale: float = Field(gt=0)
    app_rate: float = Field(gt=0)
    chat_rate: float = Field(gt=0)
    callback: str = Field(pattern=r"^https?://")


@dataclass(frozen=True)
class Credentials:
    app_id: str
    app_secret: str
    encrypt_key: str  # empty: events are pushed as plain JSON
    verification_token: str


@dataclass(frozen=True)
class Identity:
    name: str
    open_id: str
    union_id: str
    user_id: str

    def ids(self) -> dict[str, str]:
        return {"union_id": self.union_id, "user_id": self.user_id, "open_id": self.open_id}


@dataclass
class Chat:
    chat_id: str
    name: str
    chat_type: str  # group | p2p

    def view(self) -> dict[str, str]:
        return {"chat_id": self.chat_id, "name": self.name, "chat_type": self.chat_type}


@dataclass
class StoredMessage:
    message_id: str
    chat: Chat
    sender: Identity
    sender_type: str  # user | app
    msg_type: str
    content: str
    created: float  # epoch seconds
    mentions: list[dict[str, Any]] = field(default_factory=list)
    parent_id: str = ""
    root_id: str = ""
    thread_id: str = ""
    deleted_at: float | None = None

    @property
    def create_ms(self) -> str:
        return str(int(self.created * 1000))

    @property
    def text(self) -> str:
        return content.to_text(self.msg_type, self.content, self.mentions)

    def view(self) -> dict[str, Any]:
        """The sandbox's own simple JSON form, for tests and the page."""
        return {
            "message_id": self.message_id, "chat_id": self.chat.chat_id,
            "sender": {"type": self.sender_type, "name": self.sender.name, "open_id": self.sender.open_id},
            "text": self.text, "content": self.content, "msg_type": self.msg_type,
            "mentions": [{"key": m["key"], "name": m["name"], "open_id": m["id"]["open_id"]} for m in self.mentions],
            "parent_id": self.parent_id, "root_id": self.root_id, "thread_id": self.thread_id,
            "create_time": self.create_ms, "deleted": self.deleted_at is not None,
            "deleted_at": None if self.deleted_at is None else str(int(self.deleted_at * 1000)),
        }


def derive(prefix: str, *parts: str, n: int = 32) -> str:
    """A stable id: the same inputs give the same id in every run."""
    return prefix + hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:n]


class SandboxState:
    """The sandbox's world. Methods raise `ApiFailure` with Lark's codes."""

    def __init__(self, creds: Credentials, config: SandboxConfig, callback: str):
        self.creds = creds
        self.tunables = Tunables(
            recall_window_seconds=config.recall_window_seconds, token_ttl_seconds=config.token_ttl_seconds,
            retry_scale=config.retry_scale, app_rate=config.app_rate, chat_rate=config.chat_rate,
            callback=callback)
        self.tenant_key = derive("", "tenant", creds.app_id, n=16)
        self.bot = Identity(config.bot_name, derive("ou_", "bot", creds.app_id),
                            derive("on_", "bot", creds.app_id), "")
        self.limits = RateLimits()
        self.faults = Faults()
        self.chats: dict[str, Chat] = {}
        self.messages: dict[str, StoredMessage] = {}
        self._users: dict[str, Identity] = {}
        self._p2p: dict[str, str] = {}  # user open_id -> their direct chat with the bot
        self._tokens: dict[str, float] = {}  # token -> monotonic expiry
        self._current_token = ""
        self._uuids: dict[str, tuple[str, float]] = {}  # uuid -> (message_id, monotonic time)
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.default_chat = self.create_chat("larkdou 测试群", "group",
                                             chat_id=derive("oc_", "default-chat", creds.app_id))

    # ---- tokens ---------------------------------------------------------------------------------
    def issue_token(self, app_id: object, app_secret: object) -> tuple[str, int]:
        """tenant_access_token/internal: the same token while it has a quarter of its life (30 min
        of 2 h) left, a new one after that; both stay valid until they expire."""
        if app_id != self.creds.app_id or app_secret != self.creds.app_secret:
            raise ApiFailure(99991543, "app_id or app_secret is invalid")
        now, ttl = time.monotonic(), self.tunables.token_ttl_seconds
        remaining = self._tokens.get(self._current_token, 0.0) - now
        if remaining < min(1800.0, ttl / 4):
            self._current_token = "t-" + secrets.token_hex(20)
            self._tokens[self._current_token] = now + ttl
            remaining = ttl
        self._tokens = {t: exp for t, exp in self._tokens.items() if exp > now}
        return self._current_token, max(1, int(remaining))

    def check_token(self, authorization: str | None) -> None:
        if not authorization or not authorization.startswith("Bearer ") or not authorization[7:].strip():
            raise ApiFailure(99991661, "Missing access token for authorization. Please make a request with token attached.")
        if self._tokens.get(authorization[7:].strip(), 0.0) <= time.monotonic():
            raise ApiFailure(99991663, "Invalid access token for authorization. Please make a request with token attached.")

    def expire_tokens(self) -> None:
        self._tokens.clear()
        self._current_token = ""

    # ---- people and chats -----------------------------------------------------------------------
    def user(self, name: str) -> Identity:
        if name not in self._users:
            self._users[name] = Identity(name, derive("ou_", "user", self.creds.app_id, name),
                                         derive("on_", "user", self.creds.app_id, name),
                                         derive("", "uid", name, n=8))
        return self._users[name]

    def create_chat(self, name: str, chat_type: str, chat_id: str | None = None) -> Chat:
        chat = Chat(chat_id or "oc_" + secrets.token_hex(16), name, chat_type)
        self.chats[chat.chat_id] = chat
        self._notify("chat", chat.chat_id)
        return chat

    def chat_for_post(self, chat_id: str, chat_type: str) -> Chat:
        """The chat a user posts into, created on first use; a chat keeps its type."""
        chat = self.chats.get(chat_id)
        if chat is None:
            if not CHAT_ID.match(chat_id):
                raise ApiFailure(230001, "invalid param: chat_id must look like oc_…")
            return self.create_chat(f"群 {chat_id[-6:]}", chat_type, chat_id=chat_id)
        if chat.chat_type != chat_type:
            raise ApiFailure(230001, f"invalid param: chat {chat_id} is a {chat.chat_type} chat, not {chat_type}")
        return chat

    def _receive_chat(self, receive_id_type: str, receive_id: object) -> Chat:
        if not isinstance(receive_id, str) or not receive_id:
            raise ApiFailure(230001, "invalid param: receive_id is required")
        if receive_id_type == "chat_id":
            chat = self.chats.get(receive_id)
            if chat is None:
                chat = self.chat_for_post(receive_id, "group")
            return chat
        if receive_id_type == "open_id":
            user = next((u for u in self._users.values() if u.open_id == receive_id), None)
            if user is None:
                raise ApiFailure(230013, "Bot has NO availability to this user.")
            chat_id = self._p2p.get(user.open_id) or derive("oc_", "p2p", self.creds.app_id, user.name)
            return self.chats.get(chat_id) or self.create_chat(user.name, "p2p", chat_id=chat_id)
        raise ApiFailure(230001, f"invalid param: receive_id_type {receive_id_type!r} is not supported here"
                                 " (use chat_id or open_id)")

    # ---- messages -------------------------------------------------------------------------------
    def post_as_user(self, chat_id: str, user: str, text: str, mention_bot: bool, chat_type: str) -> StoredMessage:
        """A simulated user writes in a chat; an @bot is put in front of the text as Lark does."""
        chat = self.chat_for_post(chat_id, chat_type)
        sender = self.user(user)
        if chat_type == "p2p":
            self._p2p.setdefault(sender.open_id, chat.chat_id)
        mentions = []
        if mention_bot:
            text = f"@_user_1 {text}"
            mentions.append({"key": "@_user_1", "id": self.bot.ids(), "name": self.bot.name,
                             "tenant_key": self.tenant_key})
        return self._store(chat, sender, "user", "text", content.json_text(text), mentions=mentions)

    def send(self, receive_id_type: str, body: dict[str, Any]) -> StoredMessage:
        """im/v1/messages create, as the bot."""
        uuid = _uuid(body.get("uuid"))
        chat = self._receive_chat(receive_id_type, body.get("receive_id"))
        return self._as_bot(chat, body, uuid)

    def reply(self, message_id: str, body: dict[str, Any]) -> StoredMessage:
        """im/v1/messages/:id/reply, as the bot; the reply quotes `message_id`."""
        uuid = _uuid(body.get("uuid"))
        target = self._find(message_id, unknown_code=230001)
        if target.deleted_at is not None:
            raise ApiFailure(230011, "The message is recalled.")
        in_thread = body.get("reply_in_thread", False)
        if not isinstance(in_thread, bool):
            raise ApiFailure(230001, "invalid param: reply_in_thread must be true or false")
        root = target.root_id or target.message_id
        thread = target.thread_id or (derive("omt_", "thread", root, n=16) if in_thread else "")
        return self._as_bot(target.chat, body, uuid, parent_id=target.message_id, root_id=root, thread_id=thread)

    def recall(self, message_id: str) -> StoredMessage:
        """DELETE im/v1/messages/:id: only the bot's own messages, inside the recall window."""
        msg = self._find(message_id, unknown_code=231003)
        if msg.sender_type != "app" or msg.sender.open_id != self.bot.open_id:
            raise ApiFailure(230026, "No permission to recall this message.")
        if msg.deleted_at is not None:
            raise ApiFailure(230011, "The message is recalled.")
        if time.time() - msg.created > self.tunables.recall_window_seconds:
            raise ApiFailure(230009, "Message can only be recalled within one days.")
        msg.deleted_at = time.time()
        self._notify("message", msg.chat.chat_id, msg.message_id)
        return msg

    def get(self, message_id: str) -> StoredMessage:
        return self._find(message_id, unknown_code=231003)

    def chat_messages(self, chat_id: str) -> list[StoredMessage]:
        return [m for m in self.messages.values() if m.chat.chat_id == chat_id]

    def _find(self, message_id: str, *, unknown_code: int) -> StoredMessage:
        if not MESSAGE_ID.match(message_id):
            raise ApiFailure(230001, "invalid param: message_id must look like om_…")
        msg = self.messages.get(message_id)
        if msg is None:
            raise ApiFailure(unknown_code, "The message is not found." if unknown_code == 231003
                             else "invalid param: message_id not found")
        return msg

    def _as_bot(self, chat: Chat, body: dict[str, Any], uuid: str, **links: str) -> StoredMessage:
        now = time.monotonic()
        self._uuids = {u: v for u, v in self._uuids.items() if now - v[1] < UUID_TTL}
        if uuid and uuid in self._uuids:
            return self.messages[self._uuids[uuid][0]]
        try:
            content.check(body.get("msg_type"), body.get("content"))
        except content.ContentError as exc:
            raise ApiFailure(exc.code, exc.msg) from None
        msg = self._store(chat, self.bot, "app", body["msg_type"], body["content"], **links)
        if uuid:
            self._uuids[uuid] = (msg.message_id, now)
        return msg

    def _store(self, chat: Chat, sender: Identity, sender_type: str, msg_type: str, text: str,
               **extra: Any) -> StoredMessage:
        msg = StoredMessage("om_" + secrets.token_hex(16), chat, sender, sender_type, msg_type, text,
                            time.time(), **extra)
        self.messages[msg.message_id] = msg
        self._notify("message", chat.chat_id, msg.message_id)
        return msg

    # ---- live updates for the page --------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._listeners.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._listeners.discard(queue)

    def _notify(self, kind: str, chat_id: str, message_id: str = "") -> None:
        for queue in list(self._listeners):
            if not queue.full():
                queue.put_nowait({"kind": kind, "chat_id": chat_id, "message_id": message_id})


def _uuid(value: object) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 50:
        raise ApiFailure(230001, "invalid param: uuid must be a string of at most 50 characters")
    return value
