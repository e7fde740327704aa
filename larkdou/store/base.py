"""Store protocols: the message queue (gateway -> assistant) and the sent-message ledger.

Both have two real implementations, SQLite (default, one file, WAL) and Redis, chosen by URL:
`sqlite:///path/to/file.db` or `redis://host:port/db`. The same test suite runs against each.

Queue semantics
- `enqueue(msg, dedup_keys)`: atomically: if any dedup key was seen within the dedup TTL, store nothing
  (not even the other keys) and return False; else remember every key for the TTL and append the
  message to its lane (`msg.lane`: "recall" or "normal"); return True. Durable when it returns (on
  Redis: as durable as that server's persistence settings make it).
- `lease(lease_seconds, wait)`: first put every delivery whose lease ran out back into its lane at its
  original place (so it comes before everything that arrived after it, and several keep their arrival
  order), then take the oldest message of the recall lane, else of the normal lane, and lease it under
  a fresh `delivery_id`. With `recall_only`, only the recall lane is looked at (a consumer with no
  room for more answers still takes recall commands). When the lanes are empty it waits up to `wait` seconds for a message (woken
  promptly by an enqueue, also one made by another process; a lease that runs out meanwhile is seen
  within a fraction of a second) and returns None at the end. Never blocks the event loop.
- `ack(delivery_id)`: remove the leased message for good; True if that lease was live. An ack of an
  expired or unknown delivery id returns False and changes nothing.
- `depth()`: {"recall": n, "normal": n, "leased": n}; "leased" counts live leases only (those that ran
  out are counted in their lane again).
- `get_meta/set_meta`: a tiny key-value space (e.g. the bot's open_id, shared gateway <-> assistant).
- `ping()`: raises StoreError when the store cannot be reached. Every method raises StoreError (never
  a driver exception) on connection failures.

Ledger semantics (the assistant's record of what the bot sent, for recall and exactly-once answers)
- `record_sent(SentMessage)`: idempotent per bot message_id (the first record wins; recording a recalled
  message again does not bring it back). `sent_at_ms` 0 means now.
- `sent_in_chat(chat_id)`: the not-yet-recalled bot messages of a chat, oldest first (by sent_at_ms,
  then message_id).
- `mark_recalled(message_id)`: drop it from the chat's list (idempotent; unknown ids are ignored).
- `sent_for_source(source_msg_id)`: bot messages already sent in answer to that message (dedup),
  recalled ones included, oldest first; [] for "".
- `find_sent(message_id)`: the record of that bot message (recalled or not), or None when the bot did
  not send it (or it is older than the retention): tells whether a reply is addressed to the bot.
- `set_recall_mark(chat_id, ts_ms)` keeps the max; `recall_mark(chat_id)` (0 when none): answers to
  messages created at or before the mark must not be sent.
- Records are kept for a week after they were recorded (Lark's recall window is 24 h).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from larkdou.message import Message


@dataclass
class Delivery:
    delivery_id: str
    message: Message
    attempts: int  # 1 on first delivery, +1 on each redelivery


@dataclass
class SentMessage:
    message_id: str  # the bot's message
    chat_id: str
    source_msg_id: str = ""  # the message it answered ("" for unsolicited sends)
    sent_at_ms: int = 0


@runtime_checkable
class Queue(Protocol):
    async def enqueue(self, msg: Message, dedup_keys: Sequence[str]) -> bool: ...

    async def lease(self, lease_seconds: float, wait: float = 0.0, *,
                    recall_only: bool = False) -> Delivery | None: ...

    async def ack(self, delivery_id: str) -> bool: ...

    async def depth(self) -> dict[str, int]: ...

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class Ledger(Protocol):
    async def record_sent(self, sent: SentMessage) -> None: ...

    async def sent_in_chat(self, chat_id: str) -> list[SentMessage]: ...

    async def mark_recalled(self, message_id: str) -> None: ...

    async def sent_for_source(self, source_msg_id: str) -> list[SentMessage]: ...

    async def find_sent(self, message_id: str) -> SentMessage | None: ...

    async def set_recall_mark(self, chat_id: str, ts_ms: int) -> None: ...

    async def recall_mark(self, chat_id: str) -> int: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
