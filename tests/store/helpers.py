"""Helpers for the store tests."""

from __future__ import annotations

from larkdou.message import Message
from larkdou.store import Queue


def msg(text: str, *, n: int | str | None = None, chat: str = "oc_chat1", recall: bool = False) -> Message:
    """A chat message whose id is derived from `n` (or from the text)."""
    return Message(msg_id=f"om_{n if n is not None else text}", group_id=chat, content=text, is_recall=recall,
                   user_id="ou_alice", msg_time=1_700_000_000_000, event_id=f"ev_{n if n is not None else text}")


def keys(m: Message) -> list[str]:
    """The dedup keys the gateway uses: message id and event id."""
    return [f"msg:{m.msg_id}", f"evt:{m.event_id}"]


async def enqueue_texts(queue: Queue, *texts: str, recall_word: str = "豆哥撤回") -> None:
    for text in texts:
        m = msg(text, recall=text == recall_word)
        assert await queue.enqueue(m, keys(m))


async def drain(queue: Queue, lease_seconds: float = 30.0) -> list[str]:
    """Lease everything available now; returns the texts in the order they came."""
    texts = []
    while (d := await queue.lease(lease_seconds)) is not None:
        texts.append(d.message.content)
    return texts
