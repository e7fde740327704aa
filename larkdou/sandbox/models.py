"""The things the sandbox's world is made of: credentials, people, chats, messages, run-time
settings, and the refusal every Open API handler raises (`ApiFailure`, with Lark's code)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from larkdou.sandbox import content

UPDATE_WINDOW = 14 * 86400.0  # Lark: a card can be updated for 14 days
UPDATE_RATE = 5.0  # Lark: updates per second of one message


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
    update_window_seconds: float = Field(UPDATE_WINDOW, gt=0)  # how long a card can be updated
    update_rate: float = Field(UPDATE_RATE, gt=0)  # updates per second of one message


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
    description: str = ""
    owner: Identity | None = None  # None: the bot owns it (Lark then lists no owner_id)
    created: float = field(default_factory=time.time)
    active: float = field(default_factory=time.time)  # the last message

    def view(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "name": self.name, "chat_type": self.chat_type,
                "description": self.description, "owner": self.owner.name if self.owner else ""}


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
    updated_at: float | None = None  # the last card update
    updates: int = 0  # card updates accepted
    updates_after_recall: int = 0  # card updates tried after it was recalled (refused)

    @property
    def create_ms(self) -> str:
        return str(int(self.created * 1000))

    @property
    def update_ms(self) -> str:
        return str(int((self.updated_at or self.created) * 1000))

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
            "updated": self.updated_at is not None, "update_time": self.update_ms,
            "updates": self.updates, "updates_after_recall": self.updates_after_recall,
        }


def derive(prefix: str, *parts: str, n: int = 32) -> str:
    """A stable id: the same inputs give the same id in every run."""
    return prefix + hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:n]
