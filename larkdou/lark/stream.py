"""One answer streamed into one card: sent at once ("thinking…"), updated as the text grows, finished
with the full card, and stopped for good by a recall.

    stream = CardStream(lark, render=lambda text: streaming_card(text, footer=…), chat_id=chat_id)
    sent = await stream.open(reply_to=message_id, card=thinking_card(footer=…), uuid=reply_uuid(message_id))
    async for delta in llm.stream(messages):
        stream.push(delta)                 # never waits for Lark
    await stream.close(answer_card(stream.text, …))

Updates go out from one background task, at most one at a time and at least `interval` seconds
apart (the client also keeps Lark's 5 per second per message), always with the latest text, so a
fast model costs a few updates, not one per token. `stop()` (a recall) ends the stream: once it
returns, no request about this card is started again, so nothing reappears after the card is
recalled. An update answered "recalled" (`MessageGoneError`) stops the stream the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Callable

from larkdou.errors import LarkAPIError, MessageGoneError
from larkdou.lark.api import Messenger
from larkdou.lark.client import SentInfo

log = logging.getLogger(__name__)

Card = dict[str, Any]


class CardStream:
    """See the module docstring. `render(text)` builds the card for the text so far."""

    def __init__(self, lark: Messenger, *, render: Callable[[str], Card], chat_id: str = "",
                 interval: float = 0.5):
        self._lark = lark
        self._render = render
        self._chat_id = chat_id
        self._interval = interval
        self._parts: list[str] = []
        self._shown = ""  # the text of the last update that went out
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending: asyncio.Task[None] | None = None
        self._last = float("-inf")
        self._halted = False  # close() or stop() began: the background task starts nothing more
        self.message_id = ""
        self.stopped = False
        self.updates = 0

    @property
    def text(self) -> str:
        """Everything pushed so far."""
        return "".join(self._parts)

    async def open(self, *, reply_to: str, card: Card, uuid: str, reply_in_thread: bool = False,
                   text: str = "") -> SentInfo:
        """Reply to `reply_to` with the first card (e.g. `thinking_card`) and start updating it.
        `text`: what the first card already shows (e.g. `streaming_card(text)`); pushes add to it."""
        sent = await self._lark.reply_card(reply_to, card, uuid=uuid, reply_in_thread=reply_in_thread,
                                           chat_id=self._chat_id)
        if text and not self._parts:
            self._parts.append(text)
            self._shown = text
        self.message_id = sent.message_id
        self._last = time.monotonic()
        if not self.stopped:
            self._task = asyncio.create_task(self._run(), name=f"card-stream-{sent.message_id}")
        return sent

    def push(self, delta: str) -> None:
        """Add text; the card catches up in the background."""
        if delta and not self.stopped:
            self._parts.append(delta)
            self._dirty.set()

    async def close(self, card: Card) -> bool:
        """Show the final `card` (after any update in flight has finished). False when the stream was
        stopped or the card is gone: then nothing was sent, and nothing else should be. A final card
        Lark refuses raises `ContentRejectedError` (say it as text then: `reply_cards`/`card_as_text`)."""
        await self._halt(cancel_in_flight=False)
        if self.stopped or not self.message_id:
            return False
        try:
            await self._lark.update_card(self.message_id, card, chat_id=self._chat_id)
        except MessageGoneError:
            self.stopped = True
            return False
        self.updates += 1
        return True

    async def stop(self) -> None:
        """End the stream for good (a recall): no update is started after this returns."""
        self.stopped = True
        await self._halt(cancel_in_flight=True)

    async def _halt(self, *, cancel_in_flight: bool) -> None:
        self._halted = True
        task, self._task = self._task, None
        if task is None:
            return
        sending = self._sending
        if sending is not None:
            if cancel_in_flight:
                sending.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(sending)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not (self.stopped or self._halted):
            await self._dirty.wait()
            wait = self._last + self._interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty.clear()
            text = self.text
            if self.stopped or self._halted:
                return
            if text == self._shown:
                continue
            self._sending = asyncio.ensure_future(self._update(text))
            try:
                await asyncio.shield(self._sending)
            finally:
                self._sending = None
            self._last = time.monotonic()

    async def _update(self, text: str) -> None:
        try:
            await self._lark.update_card(self.message_id, self._render(text), chat_id=self._chat_id)
        except MessageGoneError:
            self.stopped = True
            log.info("card message_id=%s is gone (recalled): streaming stopped", self.message_id)
            return
        except LarkAPIError as exc:  # logged by the client; the next update may still go through
            log.warning("card update failed message_id=%s code=%s: %s", self.message_id, exc.code, exc.msg)
            return
        self._shown = text
        self.updates += 1
