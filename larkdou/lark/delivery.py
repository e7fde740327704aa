"""An answer delivered as cards, with plain text where Lark refuses a card.

Lark may refuse a card for its content (230099: e.g. an element it cannot build; 230025: too long)
even when larkdou built it carefully, and some of its rules are unverified (docs/lark-cards.md).
`reply_cards` then says the same thing as a text message instead of saying nothing: each refused
card becomes its plain text (`card_as_text`), split into text messages as long as needed. Every
message has its own deterministic `uuid` (`reply_uuid(source_id, n)`), so a redelivered question or a
retry never posts twice.
"""

from __future__ import annotations

import logging
from typing import Any

from larkdou.errors import ContentRejectedError
from larkdou.lark.api import Messenger
from larkdou.lark.cards import card_as_text
from larkdou.lark.client import SentInfo
from larkdou.lark.text import reply_uuid, split_text

log = logging.getLogger(__name__)

TEXT_INDEX = 1000  # uuids of the text parts sent instead of a refused card: reply_uuid(source, 1000 + …)


async def reply_cards(lark: Messenger, message_id: str, cards: list[dict[str, Any]], *, source_id: str,
                      chat_id: str = "", reply_in_thread: bool = False) -> list[SentInfo]:
    """Reply to `message_id` with `cards` (e.g. `answer_cards(…)`), in order; a card Lark refuses
    for its content is sent as plain text. Other failures propagate (after the client's retries)."""
    sent: list[SentInfo] = []
    texts = 0
    for n, card in enumerate(cards):
        try:
            sent.append(await lark.reply_card(message_id, card, uuid=reply_uuid(source_id, n),
                                              reply_in_thread=reply_in_thread, chat_id=chat_id))
            continue
        except ContentRejectedError as exc:
            log.warning("card %d of the answer to message_id=%s refused (code=%s: %s); sending it as text",
                        n, source_id, exc.code, exc.msg)
        for part in split_text(card_as_text(card)):
            sent.append(await lark.reply_text(message_id, part, uuid=reply_uuid(source_id, TEXT_INDEX + texts),
                                              reply_in_thread=reply_in_thread, chat_id=chat_id))
            texts += 1
    return sent
