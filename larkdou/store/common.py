"""What both store backends share: the stored form of a message, delivery ids and the long-poll loop."""

from __future__ import annotations

import json
import secrets
import time
from typing import Awaitable, Callable, TypeVar

from larkdou.message import Message
from larkdou.store import wake

T = TypeVar("T")

LEDGER_RETENTION = 7 * 24 * 3600.0  # Lark lets a bot recall for 24 h; keep a week of what it sent


def dump_message(msg: Message) -> str:
    return json.dumps(msg.to_dict(), ensure_ascii=False, separators=(",", ":"))


def load_message(body: str | bytes) -> Message:
    return Message.from_dict(json.loads(body))


def new_delivery_id(seq: int | str) -> str:
    """A fresh id for one lease of message `seq`: the sequence number, a dot, a random part."""
    return f"{seq}.{secrets.token_hex(8)}"


def delivery_seq(delivery_id: str) -> int | None:
    """The message sequence number inside a delivery id, or None when the id is malformed."""
    if not isinstance(delivery_id, str):
        return None
    seq, dot, token = delivery_id.partition(".")
    if not dot or not seq.isdigit() or len(seq) > 18 or len(token) != 16:
        return None
    return int(seq)


def now_ms() -> int:
    return int(time.time() * 1000)


async def long_poll(topic: str, attempt: Callable[[], Awaitable[T | None]], wait: float,
                    poll: float) -> T | None:
    """Call `attempt` until it returns something or `wait` seconds have passed.

    Between attempts it sleeps until `topic` is notified in this process, or `poll` seconds at most
    (to see writes of other processes and leases that ran out).
    """
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        with wake.registered(topic) as waiter:  # registered before looking: no wake-up is missed
            found = await attempt()
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0:
                return found
            await waiter.wait(min(remaining, poll))
