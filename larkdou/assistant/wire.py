"""Reading a gateway's `/fetch` answer without trusting it.

`/fetch` answers one message (the guide's form), `{}`, or `{"messages": [...]}` (with `?max=N`). An
answer that is not of those shapes is a `MalformedAnswer`; a single message in it that does not parse
(missing keys, wrong types) is reported and left out, so the caller neither crashes nor spins on it:
unacked, it comes back after its lease, and after `[gateway] max_attempts` deliveries the gateway
parks it in the dead-letter list.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from larkdou.message import Message
from larkdou.store.base import Delivery

_FIELDS = dataclasses.fields(Message)
_MENTION_KEYS = ("key", "name", "open_id", "user_id")


class MalformedAnswer(ValueError):
    """The answer as a whole cannot be read."""


@dataclass
class FetchAnswer:
    deliveries: list[Delivery] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # one line per message left out: id and why


def read_fetch_answer(data: Any) -> FetchAnswer:
    """The deliveries in a decoded `/fetch` answer (either form); MalformedAnswer when unreadable."""
    if not isinstance(data, dict):
        raise MalformedAnswer(f"expected a JSON object, got {type(data).__name__}")
    if "messages" in data:
        items = data["messages"]
        if not isinstance(items, list):
            raise MalformedAnswer(f"'messages' is {type(items).__name__}, not a list")
    else:
        items = [data] if data else []
    out = FetchAnswer()
    for item in items:
        try:
            out.deliveries.append(delivery_from_wire(item))
        except ValueError as exc:
            where = item.get("delivery_id") if isinstance(item, dict) else None
            out.rejected.append(f"delivery_id={where!r}: {exc}")
    return out


def delivery_from_wire(data: Any) -> Delivery:
    """One message of a `/fetch` answer; ValueError naming the first problem."""
    if not isinstance(data, dict):
        raise ValueError(f"a message must be an object, got {type(data).__name__}")
    delivery_id = data.get("delivery_id")
    if not isinstance(delivery_id, str) or not delivery_id:
        raise ValueError("no delivery_id")
    attempts = data.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts must be a positive integer, got {attempts!r}")
    for f in _FIELDS:
        if f.name in data:
            _check(f, data[f.name])
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ValueError(f"missing {f.name}")
    if not data["msg_id"]:
        raise ValueError("empty msg_id")
    return Delivery(delivery_id, Message.from_dict(data), attempts)


def _check(f: dataclasses.Field, value: Any) -> None:  # type: ignore[type-arg]
    if f.name == "mentions":
        if value is None:
            return
        if not isinstance(value, list) or not all(
                isinstance(m, dict) and all(isinstance(m.get(k) or "", str) for k in _MENTION_KEYS) for m in value):
            raise ValueError("mentions must be a list of objects with string fields")
        return
    expected = str if f.default is dataclasses.MISSING else type(f.default)
    if expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ValueError(f"{f.name} must be {expected.__name__}, got {type(value).__name__}")
