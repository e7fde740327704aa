"""An answer delivered as cards, with plain text where Lark refuses a card.

Lark may refuse a card for its content (230099: e.g. an element it cannot build; 230025: too long)
even when larkdou built it carefully, and some of its rules are unverified (docs/lark-cards.md).
`reply_cards` then says the same thing as a text message instead of saying nothing: each refused
card becomes its plain text (`card_as_text`), split into text messages as long as needed. Every
message has its own deterministic `uuid` (`reply_uuid(source_id, n)`), so a redelivered question or a
retry never posts twice. `reply_texts` does the same for an answer in plain text.

Both can finish an answer begun earlier: parts in `done` are not sent again, and `sent(part, info)` is
awaited after each message (to record it); when it answers False nothing more is sent.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Collection

from larkdou.errors import ContentRejectedError
from larkdou.lark.api import Messenger
from larkdou.lark.cards import card_as_text
from larkdou.lark.client import SentInfo
from larkdou.lark.text import reply_uuid, split_text

log = logging.getLogger(__name__)

TEXT_INDEX = 1000  # uuids of the text parts sent instead of a refused card: reply_uuid(source, 1000 + …)

OnSent = Callable[[int, SentInfo], Awaitable[bool]]


class _Parts:
    """Sends the parts of one answer, skipping those `done`, telling `on_sent` about each."""

    def __init__(self, done: Collection[int], on_sent: OnSent | None):
        self.done, self.on_sent = done, on_sent
        self.sent: list[SentInfo] = []
        self.stopped = False

    async def send(self, part: int, post: Callable[[], Awaitable[SentInfo]]) -> None:
        if self.stopped or part in self.done:
            return
        info = await post()
        self.sent.append(info)
        if self.on_sent is not None and not await self.on_sent(part, info):
            self.stopped = True


async def reply_cards(lark: Messenger, message_id: str, cards: list[dict[str, Any]], *, source_id: str,
                      chat_id: str = "", reply_in_thread: bool = False, first: int = 0,
                      done: Collection[int] = (), sent: OnSent | None = None) -> list[SentInfo]:
    """Reply to `message_id` with `cards` (e.g. `answer_cards(…)`), in order, card n as part
    `first + n`; a card Lark refuses for its content is sent as plain text. Returns what was sent
    now. Other failures propagate (after the client's retries)."""
    parts = _Parts(done, sent)
    texts = 0
    for n, card in enumerate(cards, start=first):
        if parts.stopped:
            break
        if n in done:
            continue
        try:
            await parts.send(n, lambda: lark.reply_card(message_id, card, uuid=reply_uuid(source_id, n),
                                                        reply_in_thread=reply_in_thread, chat_id=chat_id))
            continue
        except ContentRejectedError as exc:
            log.warning("card %d of the answer to message_id=%s refused (code=%s: %s); sending it as text",
                        n, source_id, exc.code, exc.msg)
        texts = await _as_text(lark, message_id, card, parts, source_id=source_id, chat_id=chat_id,
                               reply_in_thread=reply_in_thread, texts=texts)
    return parts.sent


async def _as_text(lark: Messenger, message_id: str, card: dict[str, Any], parts: _Parts, *, source_id: str,
                   chat_id: str, reply_in_thread: bool, texts: int) -> int:
    """A refused card said as text messages (parts TEXT_INDEX + texts, …); the next `texts`."""
    for text in split_text(card_as_text(card)):
        part = TEXT_INDEX + texts
        await parts.send(part, lambda: lark.reply_text(message_id, text, uuid=reply_uuid(source_id, part),
                                                       reply_in_thread=reply_in_thread, chat_id=chat_id))
        texts += 1
    return texts


async def reply_texts(lark: Messenger, message_id: str, texts: list[str], *, source_id: str, chat_id: str = "",
                      reply_in_thread: bool = False, done: Collection[int] = (),
                      sent: OnSent | None = None) -> list[SentInfo]:
    """Reply to `message_id` with `texts` (e.g. `split_text(…)`), in order, text n as part n."""
    parts = _Parts(done, sent)
    for n, text in enumerate(texts):
        await parts.send(n, lambda: lark.reply_text(message_id, text, uuid=reply_uuid(source_id, n),
                                                    reply_in_thread=reply_in_thread, chat_id=chat_id))
    return parts.sent


async def card_said_as_text(lark: Messenger, message_id: str, card: dict[str, Any], *, source_id: str,
                            chat_id: str = "", reply_in_thread: bool = False, done: Collection[int] = (),
                            sent: OnSent | None = None) -> list[SentInfo]:
    """A card Lark refused to show (e.g. as the final update of a streamed card) said as text messages,
    parts TEXT_INDEX, TEXT_INDEX + 1, …"""
    parts = _Parts(done, sent)
    await _as_text(lark, message_id, card, parts, source_id=source_id, chat_id=chat_id,
                   reply_in_thread=reply_in_thread, texts=0)
    return parts.sent
