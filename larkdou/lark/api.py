"""What the assistant needs of Lark, as a typed protocol: reply to a message or send into a chat
(text or a card), update a card, recall a message. `LarkClient` implements it against the Open API;
tests use it against the sandbox. Cards are built by `larkdou.lark.cards`.

Every call raises the typed exceptions of `larkdou.errors` (`LarkAPIError` and its subclasses) for
an answer Lark refuses; retryable faults are retried inside the implementation first.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from larkdou.lark.client import SentInfo


@runtime_checkable
class Messenger(Protocol):
    async def send_text(self, chat_id: str, text: str, *, uuid: str) -> SentInfo:
        """Post `text` into chat `chat_id`; the same `uuid` within an hour posts at most once."""
        ...

    async def reply_text(self, message_id: str, text: str, *, uuid: str, reply_in_thread: bool = False,
                         chat_id: str = "") -> SentInfo:
        """Reply to `message_id`, quoting it (in its thread with `reply_in_thread`)."""
        ...

    async def send_card(self, chat_id: str, card: dict[str, Any], *, uuid: str) -> SentInfo:
        """Post an interactive card into chat `chat_id` (same `uuid` rule as text)."""
        ...

    async def reply_card(self, message_id: str, card: dict[str, Any], *, uuid: str, reply_in_thread: bool = False,
                         chat_id: str = "") -> SentInfo:
        """Reply to `message_id` with a card, quoting it."""
        ...

    async def update_card(self, message_id: str, card: dict[str, Any], *, chat_id: str = "") -> None:
        """Replace the card of one of the bot's card messages (shown to everyone in the chat)."""
        ...

    async def recall(self, message_id: str, *, chat_id: str = "") -> None:
        """Recall one of the bot's own messages."""
        ...
