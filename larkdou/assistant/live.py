"""One answer an LLM writes, streamed into a card while it is written.

- A question put to the bot gets its card at once ("思考中…"); any other group message gets one only
  once its text is clearly an answer (`larkdou.answer.streamed.showable`), or, for a short answer,
  when it is complete: nothing is posted that would then be taken back because the LLM declined.
- The card is recorded in the ledger, with the answer's plan, as soon as it is sent and before any
  text goes into it, so that a recall on any instance finds it.
- The text goes into a `CardStream` (at most one update every `UPDATE_INTERVAL` seconds, always with
  the latest text; the client keeps Lark's 5 per second per message); the final update shows the reply
  with its sources and footer, and a long answer continues in more cards.
- A recall here (`halt`) stops the card first (no update of it starts afterwards), then the LLM; a
  recall on another instance is seen by the next update (the card is gone) and ends it the same way.
- When the LLM fails or declines, the card becomes what the answer says instead (`Streamed.failed`,
  `Streamed.declined`: for a group message whose card shows part of the answer, the excerpt from the
  documents when there is one) or, when there is nothing to say, is taken back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from larkdou.answer.base import Decision
from larkdou.answer.streamed import conclude, showable
from larkdou.assistant.deliver import RECALLED, Deliverer, Outcome, Recorder
from larkdou.assistant.render import Plan
from larkdou.errors import ContentRejectedError, LarkAPIError, LLMError, MessageGoneError
from larkdou.lark.cards import recall_footer, streaming_card, thinking_card
from larkdou.lark.stream import CardStream
from larkdou.lark.text import reply_uuid
from larkdou.message import Message
from larkdou.store.base import SentMessage

log = logging.getLogger(__name__)

UPDATE_INTERVAL = 0.5  # seconds between two updates of a card being streamed, at least


class LiveAnswer:
    """See the module docstring. `run()` once; `halt()` from a recall, at any time."""

    def __init__(self, deliverer: Deliverer, msg: Message, decision: Decision):
        assert decision.stream is not None
        self._d = deliverer
        self._msg = msg
        self._decision = decision
        self._stream = decision.stream
        lang = "zh" if self._stream.language == "zh" else "en"
        self._lang = lang
        self._footer = recall_footer(deliverer.keyword(msg), lang)
        self._parts: list[str] = []
        self._changed = asyncio.Event()
        self._halted = False
        self._reader: asyncio.Task[None] | None = None
        self._card: CardStream | None = None
        self._head: SentMessage | None = None  # the card, once sent and recorded
        self._cardless = False  # Lark refused the card: the answer goes out once written
        self._shown = 0  # characters of the text pushed into the card

    async def halt(self) -> None:
        """Stop for good: no update of the card starts after this returns; the LLM is let go."""
        self._halted = True
        self._changed.set()
        if self._reader is not None:
            self._reader.cancel()
        if self._card is not None:
            await self._card.stop()

    async def run(self) -> Outcome:
        try:
            if self._stream.addressed and (stop := await self._open("")) is not None:
                return stop
            self._reader = asyncio.create_task(self._read(), name=f"llm-{self._msg.msg_id}")
            while not self._reader.done():
                await self._changed.wait()
                self._changed.clear()
                if self._gone():
                    return await self._recalled()
                if (stop := await self._show("".join(self._parts))) is not None:
                    return stop
            if self._gone():
                return await self._recalled()
            error = self._reader.exception()
            if error is not None and not isinstance(error, LLMError):
                raise error
            final = conclude(self._decision, "".join(self._parts), failed=error is not None,
                             shown=self._head is not None)
            return await self._finish(final)
        finally:
            if self._reader is not None and not self._reader.done():
                self._reader.cancel()
                await asyncio.gather(self._reader, return_exceptions=True)
            if self._card is not None:
                self._d.metrics.card_updates.inc(self._card.updates)
                await self._card.stop()

    def _gone(self) -> bool:
        """A recall stopped the answer (here), or took its card away (anywhere)."""
        return self._halted or (self._card is not None and self._card.stopped)

    async def _read(self) -> None:
        try:
            async with contextlib.aclosing(self._stream.pieces()) as pieces:  # type: ignore[type-var]
                async for piece in pieces:
                    self._parts.append(piece)
                    self._changed.set()
        finally:
            self._changed.set()

    async def _show(self, text: str) -> Outcome | None:
        """Put what may be shown of `text` into the card (sending the card first if need be)."""
        if self._cardless or not showable(text, self._stream.addressed):
            return None
        if self._card is None:
            return await self._open(text)
        if len(text) > self._shown:
            self._card.push(text[self._shown:])
            self._shown = len(text)
        return None

    async def _open(self, text: str) -> Outcome | None:
        """Send the card (showing `text`, or "thinking…") and record it; an Outcome when that ends it."""
        msg, d = self._msg, self._d
        if await d.recaller.is_stale(msg.group_id, msg.msg_time):
            return await d.end(msg, RECALLED)
        await d.ledger.begin_answer(msg.msg_id, Plan("card", streamed=True).dump())
        self._card = CardStream(d.client, chat_id=msg.group_id, interval=UPDATE_INTERVAL,
                                render=lambda t: streaming_card(t, footer=self._footer, lang=self._lang))
        first = (streaming_card(text, footer=self._footer, lang=self._lang) if text
                 else thinking_card(footer=self._footer, lang=self._lang))
        try:
            info = await self._card.open(reply_to=msg.msg_id, card=first, uuid=reply_uuid(msg.msg_id, 0), text=text,
                                         reply_in_thread=d.settings.lark_group.reply_in_thread)
        except ContentRejectedError as exc:
            log.warning("chat=%s message=%s: the card was refused (code=%s: %s); the answer is sent once written",
                        msg.group_id, msg.msg_id, exc.code, exc.msg)
            self._card, self._cardless = None, True
            return None
        except MessageGoneError:
            return await d.end(msg, Outcome("skipped", "question_gone"))
        except LarkAPIError as exc:
            return await d.end(msg, d.failed(msg, exc))
        if not await Recorder(d.recaller, msg)(0, info):  # a recall raced the card: it was taken back
            return await self._recalled()
        d.metrics.streamed.inc()
        self._head = SentMessage(info.message_id, info.chat_id or msg.group_id, msg.msg_id, info.create_time_ms)
        self._shown = len(text)
        return None

    async def _finish(self, final: Decision) -> Outcome:
        """The text is complete: the card shows the final answer (or goes), the rest follows."""
        msg, d = self._msg, self._d
        if not final.answer:
            return await d.withdraw(msg, [self._head] if self._head is not None else [], final.reason)
        plan = Plan("card", streamed=self._head is not None, reply=final.reply)
        await d.ledger.begin_answer(msg.msg_id, plan.dump())
        if self._head is None or self._card is None:  # nothing shown yet: the answer goes out whole
            if await d.recaller.is_stale(msg.group_id, msg.msg_time):
                return await d.end(msg, RECALLED)
            return await d.send(msg, plan, {}, refresh_first=False)
        assert plan.reply is not None
        head, record, shown_as = d.cards(msg, plan.reply)[0], Recorder(d.recaller, msg), {0: self._head}
        try:
            shown = await self._card.close(head)
        except ContentRejectedError as exc:  # the card is taken back, the answer said as text
            shown, shown_as = await d.card_refused(msg, self._head, head, record, exc), {}
        except LarkAPIError as exc:
            return await d.end(msg, d.failed(msg, exc))
        if not shown or self._halted:
            return await self._recalled()
        return await d.send(msg, plan, shown_as, refresh_first=False, record=record)

    async def _recalled(self) -> Outcome:
        if self._card is not None:
            await self._card.stop()
        return await self._d.end(self._msg, RECALLED)
