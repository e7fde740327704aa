"""What both store backends share: the stored form of a message, delivery and dead-letter ids, the
long-poll loop, and the single-message forms of the batch operations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from typing import Awaitable, Callable, Iterable, Sequence, TypeVar

from larkdou.errors import StoreError
from larkdou.message import Message
from larkdou.store import wake
from larkdou.store.base import Delivery, Queue

T = TypeVar("T")

log = logging.getLogger("larkdou.store")

LEDGER_RETENTION = 7 * 24 * 3600.0  # Lark lets a bot recall for 24 h; keep a week of what it sent
DEFAULT_MAX_ATTEMPTS = 5  # deliveries of one message before it goes to the dead-letter list
SWEEP_PER_INSERT = 2  # expired rows removed with each row added, so a busy store stays bounded


def dump_message(msg: Message) -> str:
    return json.dumps(msg.to_dict(), ensure_ascii=False, separators=(",", ":"))


def load_message(body: str | bytes) -> Message:
    return Message.from_dict(json.loads(body))


def new_delivery_token() -> str:
    """The random part of the delivery ids handed out by one lease call."""
    return secrets.token_hex(8)


def new_delivery_id(seq: int | str, token: str = "") -> str:
    """A fresh id for one lease of message `seq`: the sequence number, a dot, a random part."""
    return f"{seq}.{token or new_delivery_token()}"


def delivery_seq(delivery_id: str) -> int | None:
    """The message sequence number inside a delivery id, or None when the id is malformed."""
    if not isinstance(delivery_id, str):
        return None
    seq, dot, token = delivery_id.partition(".")
    if not dot or not seq.isdigit() or len(seq) > 18 or len(token) != 16:
        return None
    return int(seq)


def dead_seqs(ids: Iterable[str]) -> list[int]:
    """The sequence numbers named by dead-letter ids (their decimal form); malformed ids are left out."""
    return [int(i) for i in dict.fromkeys(ids) if isinstance(i, str) and i.isdigit() and len(i) <= 18]


def report_dead(count: int) -> None:
    if count:
        log.warning("%d message(s) moved to the dead-letter list after too many deliveries; "
                    "see `larkdou queue dead`", count)


def now_ms() -> int:
    return int(time.time() * 1000)


async def lease_for_caller(queue: Queue, n: int, lease_seconds: float, wait: float, *, recall_only: bool = False,
                           abandoned: asyncio.Event | None = None) -> list[Delivery]:
    """`queue.lease_many` for a caller that may go away: when `abandoned` is set, or the calling task is
    cancelled, the wait ends at once and whatever was leased in that instant is released (made ready
    again) rather than held until its lease runs out. Cancellation is re-raised."""
    gone = abandoned if abandoned is not None else asyncio.Event()
    task = asyncio.ensure_future(queue.lease_many(n, lease_seconds, wait, recall_only=recall_only, abandoned=gone))
    try:
        got = await asyncio.shield(task)
    except asyncio.CancelledError:
        gone.set()
        with contextlib.suppress(StoreError):
            # at once: the long-poll stops waiting; an attempt under way completes
            await release(queue, await task)
        raise
    if gone.is_set():
        await release(queue, got)
        return []
    return got


async def release(queue: Queue, got: Sequence[Delivery]) -> None:
    """Give leased messages back to the queue now (best effort: else their leases run out)."""
    if got:
        with contextlib.suppress(StoreError):
            await queue.extend([d.delivery_id for d in got], 0)  # a lease ending now
        log.info("%d leased message(s) released: the fetch that took them was abandoned", len(got))


async def long_poll(topic: str, attempt: Callable[[], Awaitable[T | None]], wait: float,
                    poll: float, abandoned: asyncio.Event | None = None) -> T | None:
    """Call `attempt` until it returns something or `wait` seconds have passed.

    Between attempts it sleeps until `topic` is notified in this process, or `poll` seconds at most
    (to see writes of other processes and leases that ran out). Once `abandoned` is set (the consumer
    has gone), it returns None without another attempt; an attempt is never cut short, so what it
    took is always returned.
    """
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        with wake.registered(topic) as waiter:  # registered before looking: no wake-up is missed
            found = await attempt()
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0:
                return found
            await waiter.wait(min(remaining, poll), abandoned)
            if abandoned is not None and abandoned.is_set():
                return None


class SingleForms:
    """`lease` and `ack` of one message, in terms of a queue's `lease_many` and `ack_many`."""

    async def lease_many(self, n: int, lease_seconds: float, wait: float = 0.0, *,
                         recall_only: bool = False, abandoned: asyncio.Event | None = None) -> list[Delivery]:
        raise NotImplementedError

    async def ack_many(self, delivery_ids: Sequence[str]) -> list[bool]:
        raise NotImplementedError

    async def lease(self, lease_seconds: float, wait: float = 0.0, *,
                    recall_only: bool = False) -> Delivery | None:
        """Lease the next message (see `lease_many`), or None when none came within `wait`."""
        got = await self.lease_many(1, lease_seconds, wait, recall_only=recall_only)
        return got[0] if got else None

    async def ack(self, delivery_id: str) -> bool:
        """Remove a leased message for good; False when that lease is not live."""
        return (await self.ack_many([delivery_id]))[0]
