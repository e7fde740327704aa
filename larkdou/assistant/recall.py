"""Taking back what the bot said in a chat.

The procedure (safe with several assistants on one shared ledger, and across crashes):
1. set the chat's recall mark to the command's create time, so no answer to an older message is sent
   from now on (every sender checks the mark before sending and again after recording);
2. cancel the answer being generated in that chat (this process), and stop an answer being streamed
   into a card there: no update of it is started after that;
3. recall every ledger message of the chat concurrently, within the client's rate limits.
Messages past Lark's recall window, already gone, or not the bot's are reported and dropped from the
ledger, and so are those Lark refuses with any other permanent error (`lark.codes.is_transient`: it
would refuse them again); transient failures (5xx, rate limits) stay in the ledger and leave the
command unacked, so a redelivery tries again, up to the queue's `max_attempts`.
Recalling twice is harmless: the second pass finds nothing left.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable

from larkdou.assistant.metrics import AssistantMetrics
from larkdou.lark.api import Messenger
from larkdou.lark.codes import is_transient
from larkdou.errors import LarkAPIError, MessageGoneError, NotOwnMessageError, RecallWindowError
from larkdou.store.base import Ledger, SentMessage

log = logging.getLogger(__name__)


@dataclass
class RecallReport:
    chat_id: str
    recalled: list[str] = field(default_factory=list)
    too_old: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    not_own: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # refused for good (logged with code and log id)
    failed: list[str] = field(default_factory=list)  # transient: worth another try

    @property
    def complete(self) -> bool:
        return not self.failed


def now_ms() -> int:
    return int(time.time() * 1000)


class Recaller:
    """Recalls a chat's bot messages and guards every send against a recall that raced it."""

    def __init__(self, ledger: Ledger, client: Messenger, metrics: AssistantMetrics, *, concurrency: int = 10):
        self.ledger = ledger
        self.client = client
        self.metrics = metrics
        self._limit = asyncio.Semaphore(concurrency)

    async def recall_chat(self, chat_id: str, mark_ms: int,
                          cancel: Callable[[str, int], Awaitable[None] | None] | None = None) -> RecallReport:
        """Set the mark, cancel the chat's in-flight answer (`cancel(chat_id, mark_ms)`, awaited when it
        returns an awaitable), then recall everything recorded in the chat."""
        mark_ms = mark_ms or now_ms()
        await self.ledger.set_recall_mark(chat_id, mark_ms)
        if cancel is not None:
            stopping = cancel(chat_id, mark_ms)
            if inspect.isawaitable(stopping):
                await stopping
        report = RecallReport(chat_id)
        sent = await self.ledger.sent_in_chat(chat_id)
        await asyncio.gather(*(self._recall_one(s, report) for s in sent))
        self.metrics.recall_commands.inc()
        if report.too_old:
            log.warning("chat=%s: %d message(s) past the recall window, left in place: %s",
                        chat_id, len(report.too_old), ", ".join(report.too_old))
        log.info("chat=%s recall: %d recalled, %d too old, %d already gone, %d not ours, %d refused, %d failed",
                 chat_id, len(report.recalled), len(report.too_old), len(report.gone),
                 len(report.not_own), len(report.rejected), len(report.failed))
        return report

    async def _recall_one(self, sent: SentMessage, report: RecallReport) -> None:
        async with self._limit:
            try:
                await self.client.recall(sent.message_id, chat_id=sent.chat_id)
            except RecallWindowError:
                report.too_old.append(sent.message_id)
                self.metrics.recall_too_old.inc()
            except MessageGoneError:
                report.gone.append(sent.message_id)
            except NotOwnMessageError:
                report.not_own.append(sent.message_id)
            except LarkAPIError as exc:
                self.metrics.send_failures.labels(code=str(exc.code)).inc()
                if is_transient(exc):
                    report.failed.append(sent.message_id)
                    log.warning("chat=%s message=%s: recall failed code=%s log_id=%s; will try again",
                                sent.chat_id, sent.message_id, exc.code, exc.log_id)
                    return
                report.rejected.append(sent.message_id)
                log.warning("chat=%s message=%s: recall refused for good code=%s msg=%r log_id=%s; "
                            "dropped from the ledger", sent.chat_id, sent.message_id, exc.code, exc.msg, exc.log_id)
            else:
                report.recalled.append(sent.message_id)
                self.metrics.recalled.inc()
        await self.ledger.mark_recalled(sent.message_id)

    async def take_back(self, chat_id: str, sent: Iterable[SentMessage]) -> RecallReport:
        """Recall these bot messages (e.g. a card whose answer came to nothing); see `RecallReport`."""
        report = RecallReport(chat_id)
        await asyncio.gather(*(self._recall_one(s, report) for s in sent))
        return report

    async def is_stale(self, chat_id: str, msg_time_ms: int) -> bool:
        """True when a recall in the chat came at or after the message: its answer must not be sent."""
        mark = await self.ledger.recall_mark(chat_id)
        return mark > 0 and msg_time_ms <= mark

    async def record_and_guard(self, sent: SentMessage, source_time_ms: int) -> bool:
        """Record a sent message, then re-check the mark: a recall that read the ledger before this
        record would have missed it, so recall it now. False when it had to be taken back."""
        await self.ledger.record_sent(sent)
        if not await self.is_stale(sent.chat_id, source_time_ms):
            return True
        report = RecallReport(sent.chat_id)
        await self._recall_one(sent, report)
        log.info("chat=%s message=%s: recalled right after sending (a recall raced it)",
                 sent.chat_id, sent.message_id)
        return False
