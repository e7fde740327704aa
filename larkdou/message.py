"""The one message type every transport produces and every consumer reads."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

LANE_RECALL = "recall"
LANE_NORMAL = "normal"


@dataclass
class Mention:
    key: str  # "@_user_1"
    name: str = ""
    open_id: str = ""
    user_id: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Mention":
        return cls(**{f.name: data.get(f.name, "") or "" for f in dataclasses.fields(cls)})


@dataclass
class Message:
    """A received chat message, normalised from a Lark event.

    `to_fetch_dict` keeps the guide's keys (source, msg_id, user_id, content, group_id, msg_time).
    """

    msg_id: str
    group_id: str  # chat_id ("oc_…"), also for p2p chats
    content: str  # plain text: @_user_N placeholders replaced by "@Name"
    user_id: str = ""  # sender open_id
    msg_time: int = 0  # message create_time, epoch milliseconds
    event_id: str = ""
    chat_type: str = "group"  # group | p2p | topic_group
    message_type: str = "text"
    mentions: list[Mention] = field(default_factory=list)
    mentioned_bot: bool = False
    is_recall: bool = False
    root_id: str = ""
    parent_id: str = ""
    thread_id: str = ""
    sender_type: str = "user"
    tenant_key: str = ""
    source: str = "lark_group"

    @property
    def chat_id(self) -> str:
        return self.group_id

    @property
    def lane(self) -> str:
        return LANE_RECALL if self.is_recall else LANE_NORMAL

    def to_dict(self) -> dict[str, Any]:
        # a flat copy (dataclasses.asdict deep-copies every value: slow on the ingest path)
        out = {name: getattr(self, name) for name in _MESSAGE_FIELDS}
        out["mentions"] = [vars(m).copy() for m in self.mentions]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Message":
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["mentions"] = [m if isinstance(m, Mention) else Mention.from_dict(m) for m in data.get("mentions") or []]
        return cls(**kwargs)

    def to_fetch_dict(self, delivery_id: str = "") -> dict[str, Any]:
        out = self.to_dict()
        out["delivery_id"] = delivery_id
        return out


_MESSAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Message))
