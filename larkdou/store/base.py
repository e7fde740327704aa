"""Store protocols: the message queue (gateway -> assistant) and the sent-message ledger.

Both have two real implementations, SQLite (default, one file, WAL) and Redis, chosen by URL:
`sqlite:///path/to/file.db` or `redis://host:port/db`. The same test suite runs against each.

Queue semantics
- `enqueue(msg, dedup_keys)`: atomically: if any dedup key was seen within the dedup TTL, store nothing
  (not even the other keys) and return False; else remember every key for the TTL and append the
  message to its lane (`msg.lane`: "recall" or "normal"); return True. Durable when it returns (on
  Redis: as durable as that server's persistence settings make it). Expired dedup keys are removed in
  proportion to the keys added (and by a periodic sweep; on Redis by key TTLs), so a busy tenant's
  store stays bounded.
- `lease_many(n, lease_seconds, wait)`: first put every delivery whose lease ran out back into its lane
  at its original place (so it comes before everything that arrived after it, and several keep their
  arrival order) -- or, when it has already been delivered `max_attempts` times, into the dead-letter
  list instead (in the same transaction: a message is always in exactly one place) -- then take up to
  `n` of the oldest messages of the recall lane, then of the normal lane, and lease each under a fresh
  `delivery_id`, all in one transaction / round trip. With `recall_only`, only the recall lane is
  looked at (a consumer with no room for more answers still takes recall commands). When the lanes are
  empty it waits up to `wait` seconds for a message (woken promptly by an enqueue, also one made by
  another process; a lease that runs out meanwhile is seen within a fraction of a second) and returns
  [] at the end. Never blocks the event loop. `lease(...)` is the same for one message (or None).
- `ack(delivery_id)`: remove the leased message for good; True if that lease was live. An ack of an
  expired or unknown delivery id returns False and changes nothing. `ack_many(ids)` does several in one
  transaction / round trip and answers one bool per id.
- `extend(ids, seconds)`: each live lease among `ids` now runs out `seconds` from now (a consumer still
  working on a message keeps it); one bool per id, False for a lease that already ran out or is unknown.
- `depth()`: {"recall": n, "normal": n, "leased": n}; "leased" counts live leases only (those that ran
  out are counted in their lane again). `dead_count()`: messages in the dead-letter list.
- `dead_letters(limit)`: the dead-letter list, oldest death first. `retry_dead(ids)` puts those
  (all with None) back into their lane with a fresh attempt count; `drop_dead(ids)` deletes them for
  good. Both return the ids they found; unknown ids are ignored.
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
- `SentMessage.part`: which part of its answer a message is (the index of its `uuid`, see
  `larkdou.lark.text.reply_uuid`), so that an unfinished answer is completed without sending a part twice.
- `begin_answer(source_msg_id, plan)`: an answer to that message is being sent; `plan` (a string, e.g.
  JSON) says what it is, to finish it after a crash. Writing it again replaces the plan.
  `answer_plan(source_msg_id)`: that plan while the answer is unfinished, else None (never begun, or
  finished). `finish_answer(source_msg_id)`: the answer is complete (idempotent). A message with sent
  messages and no plan is answered; with a plan, its answer is to be finished.
- `set_recall_mark(chat_id, ts_ms)` keeps the max; `recall_mark(chat_id)` (0 when none): answers to
  messages created at or before the mark must not be sent.
- Records, plans and recall marks are kept for a week (Lark's recall window is 24 h); old ones are removed in
  proportion to new ones (and by a periodic sweep; on Redis by key TTLs).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from larkdou.message import Message


@dataclass
class Delivery:
    delivery_id: str
    message: Message
    attempts: int  # 1 on first delivery, +1 on each redelivery


@dataclass
class DeadLetter:
    """A message parked after too many deliveries; `id` is what `larkdou queue retry|drop` take."""

    id: str
    message: Message
    attempts: int  # deliveries before it was parked
    died_at_ms: int


@dataclass
class SentMessage:
    message_id: str  # the bot's message
    chat_id: str
    source_msg_id: str = ""  # the message it answered ("" for unsolicited sends)
    sent_at_ms: int = 0
    part: int = 0  # which part of the answer it is (the index of its uuid)


@runtime_checkable
class Queue(Protocol):
    async def enqueue(self, msg: Message, dedup_keys: Sequence[str]) -> bool: ...

    async def lease(self, lease_seconds: float, wait: float = 0.0, *,
                    recall_only: bool = False) -> Delivery | None: ...

    async def lease_many(self, n: int, lease_seconds: float, wait: float = 0.0, *,
                         recall_only: bool = False, abandoned: asyncio.Event | None = None) -> list[Delivery]:
        """Up to `n` messages (recalls first), leased for `lease_seconds`; waits up to `wait` seconds for
        one, but not once `abandoned` is set (the caller has gone)."""
        ...

    async def ack(self, delivery_id: str) -> bool: ...

    async def ack_many(self, delivery_ids: Sequence[str]) -> list[bool]: ...

    async def extend(self, delivery_ids: Sequence[str], seconds: float) -> list[bool]:
        """Each live lease now ends `seconds` from now (0: now, its message is ready again); one bool per id."""
        ...

    async def depth(self) -> dict[str, int]: ...

    async def dead_count(self) -> int: ...

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]: ...

    async def retry_dead(self, ids: Sequence[str] | None) -> list[str]: ...

    async def drop_dead(self, ids: Sequence[str] | None) -> list[str]: ...

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

    async def begin_answer(self, source_msg_id: str, plan: str) -> None: ...

    async def answer_plan(self, source_msg_id: str) -> str | None: ...

    async def finish_answer(self, source_msg_id: str) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
