"""Everything the sandbox knows, in memory, in one object shared by the Open API, the event push
and the web page: the app's credentials and tokens, chats, messages, uuids, limits and faults.

Choices where Lark's behaviour is unverified (reference §7, docs/lark-cards.md), so clients must
cope with either:
- a duplicate `uuid` within an hour returns the original message with code 0 and posts nothing;
- recalling an already recalled message gives 230011; an unknown but well-formed id gives 231003;
- a bot may send to any well-formed `oc_` chat id: the chat is created on first use;
- updating a card that is not shared (`update_multi` false before or after) gives 230099; updating
  someone else's message 230027; an unknown message 230001;
- the root message of a thread gets the thread's `thread_id` once the thread exists.

`Faults.refuse_cards` makes every card sent, replied or updated fail with 230099, as Lark does for a
card it cannot build; each message counts the updates it took and those tried after its recall.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from typing import Any

from larkdou.config import SandboxConfig
from larkdou.sandbox import content
from larkdou.sandbox.limits import Faults, RateLimits
from larkdou.sandbox.models import ApiFailure, Chat, Credentials, Identity, StoredMessage, Tunables, derive

__all__ = ["ApiFailure", "Chat", "Credentials", "Identity", "SandboxState", "StoredMessage", "Tunables"]

UUID_TTL = 3600.0
CHAT_ID = re.compile(r"^oc_[A-Za-z0-9_-]{1,64}$")
MESSAGE_ID = re.compile(r"^om_[A-Za-z0-9_-]{1,64}$")


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

    def create_chat(self, name: str, chat_type: str, chat_id: str | None = None, *, description: str = "",
                    owner: str = "") -> Chat:
        chat = Chat(chat_id or "oc_" + secrets.token_hex(16), name, chat_type, description,
                    self.user(owner) if owner else None)
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

    def group_chats(self, by_activity: bool = False) -> list[Chat]:
        """The groups the bot is in (all the sandbox's group chats; direct chats are not groups),
        oldest first, or most recently active first."""
        groups = [c for c in self.chats.values() if c.chat_type == "group"]
        return sorted(groups, key=lambda c: -c.active) if by_activity else sorted(groups, key=lambda c: c.created)

    # ---- messages -------------------------------------------------------------------------------
    def post_as_user(self, chat_id: str, user: str, text: str, mention_bot: bool, chat_type: str,
                     parent_id: str = "", in_thread: bool = False) -> StoredMessage:
        """A simulated user writes in a chat; an @bot is put in front of the text as Lark does.
        With `parent_id` the message replies to (quotes) that one; `in_thread` puts it in its thread."""
        chat = self.chat_for_post(chat_id, chat_type)
        links: dict[str, str] = {}
        if parent_id or in_thread:
            parent = self.messages.get(parent_id)
            if parent is None or parent.chat is not chat:
                raise ApiFailure(230001, f"invalid param: no message {parent_id or '(none)'} in chat {chat_id} to reply to")
            if parent.deleted_at is not None:
                raise ApiFailure(230011, "The message is recalled.")
            links = self._links(parent, in_thread)
        sender = self.user(user)
        if chat_type == "p2p":
            self._p2p.setdefault(sender.open_id, chat.chat_id)
        mentions = []
        if mention_bot:
            text = f"@_user_1 {text}"
            mentions.append({"key": "@_user_1", "id": self.bot.ids(), "name": self.bot.name,
                             "tenant_key": self.tenant_key})
        self._open_thread(links)
        return self._store(chat, sender, "user", "text", content.json_text(text), mentions=mentions, **links)

    def send(self, receive_id_type: str, body: dict[str, Any], body_size: int = 0) -> StoredMessage:
        """im/v1/messages create, as the bot."""
        uuid = _uuid(body.get("uuid"))
        chat = self._receive_chat(receive_id_type, body.get("receive_id"))
        return self._as_bot(chat, body, uuid, body_size)

    def reply(self, message_id: str, body: dict[str, Any], body_size: int = 0) -> StoredMessage:
        """im/v1/messages/:id/reply, as the bot; the reply quotes `message_id`."""
        uuid = _uuid(body.get("uuid"))
        target = self._find(message_id, unknown_code=230001)
        if target.deleted_at is not None:
            raise ApiFailure(230011, "The message is recalled.")
        in_thread = body.get("reply_in_thread", False)
        if not isinstance(in_thread, bool):
            raise ApiFailure(230001, "invalid param: reply_in_thread must be true or false")
        return self._as_bot(target.chat, body, uuid, body_size, **self._links(target, in_thread))

    def update(self, message_id: str, body: dict[str, Any], body_size: int = 0) -> StoredMessage:
        """PATCH im/v1/messages/:id: the bot replaces the card of one of its card messages, which must
        be shared (`update_multi`) before and after, not recalled, and at most 14 days old."""
        msg = self._find(message_id, unknown_code=230001)
        if msg.sender_type != "app" or msg.sender.open_id != self.bot.open_id:
            raise ApiFailure(230027, "Lack of necessary permissions.")
        if msg.deleted_at is not None:
            msg.updates_after_recall += 1
            raise ApiFailure(230011, "The message is recalled.")
        if msg.msg_type != "interactive":
            raise ApiFailure(230001, "invalid param: only interactive messages (cards) can be updated")
        self._refuse_cards()
        if time.time() - msg.created > self.tunables.update_window_seconds:
            raise ApiFailure(230031, "Message can only be modified within 14 days after sending.")
        new = _checked("interactive", body.get("content"), body_size)
        if not (content.update_multi(json.loads(msg.content)) and content.update_multi(new)):
            raise ApiFailure(230099, "Failed to create card content (the card must set config.update_multi "
                                     "to true before and after an update)")
        msg.content, msg.updated_at = body["content"], time.time()
        msg.updates += 1
        self._notify("message", msg.chat.chat_id, msg.message_id)
        return msg

    def _refuse_cards(self) -> None:
        if self.faults.refuse_cards:
            raise ApiFailure(230099, "Failed to create card content, ext=ErrCode: 200621; ErrMsg: parse card json err "
                                     "(refused by the sandbox: faults.refuse_cards)")

    @staticmethod
    def _links(target: StoredMessage, in_thread: bool) -> dict[str, str]:
        """parent_id / root_id / thread_id of a reply to `target`, as Lark sets them (reference §3): a
        reply quotes its parent and shares its root; in a thread (asked for, or `target` is already in
        one) parent and root are both the thread's root message."""
        root = target.root_id or target.message_id
        if not (in_thread or target.thread_id):
            return {"parent_id": target.message_id, "root_id": root}
        thread = target.thread_id or derive("omt_", "thread", root, n=16)
        return {"parent_id": root, "root_id": root, "thread_id": thread}

    def _open_thread(self, links: dict[str, str]) -> None:
        """A message goes into a thread: its root message now belongs to the thread too."""
        head = self.messages.get(links.get("root_id", ""))
        if links.get("thread_id") and head is not None and not head.thread_id:
            head.thread_id = links["thread_id"]
            self._notify("message", head.chat.chat_id, head.message_id)

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

    def _as_bot(self, chat: Chat, body: dict[str, Any], uuid: str, body_size: int, **links: str) -> StoredMessage:
        now = time.monotonic()
        self._uuids = {u: v for u, v in self._uuids.items() if now - v[1] < UUID_TTL}
        if uuid and uuid in self._uuids:
            return self.messages[self._uuids[uuid][0]]
        _checked(body.get("msg_type"), body.get("content"), body_size)
        if body.get("msg_type") == "interactive":
            self._refuse_cards()
        self._open_thread(links)
        msg = self._store(chat, self.bot, "app", body["msg_type"], body["content"], **links)
        if uuid:
            self._uuids[uuid] = (msg.message_id, now)
        return msg

    def _store(self, chat: Chat, sender: Identity, sender_type: str, msg_type: str, text: str,
               **extra: Any) -> StoredMessage:
        msg = StoredMessage("om_" + secrets.token_hex(16), chat, sender, sender_type, msg_type, text,
                            time.time(), **extra)
        self.messages[msg.message_id] = msg
        chat.active = msg.created
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


def _checked(msg_type: object, value: object, body_size: int) -> dict[str, Any]:
    try:
        return content.check(msg_type, value, body_size)
    except content.ContentError as exc:
        raise ApiFailure(exc.code, exc.msg) from None


def _uuid(value: object) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 50:
        raise ApiFailure(230001, "invalid param: uuid must be a string of at most 50 characters")
    return value
