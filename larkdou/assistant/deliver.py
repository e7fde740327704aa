"""How an answer reaches the chat: as Lark cards or text (`larkdou.assistant.render`), streamed into a
card while an LLM writes it (`larkdou.assistant.live`), recorded in the ledger part by part, and
finished after a crash.

Exactly one answer, complete:
- every message of an answer is part n of it: it carries the `uuid` `reply_uuid(source, n)` (a retry
  or a second try within Lark's hour posts nothing new) and is recorded with its part number right
  after it is sent, then checked against the chat's recall mark (`Recaller.record_and_guard`);
- before the first part goes out the ledger gets the answer's `Plan`, and loses it once the last part
  is out. A message with recorded parts and no plan is answered; one with a plan is unfinished (the
  process died between parts, or while a card was streamed): its next delivery finishes it — the parts
  not yet recorded are sent, a streamed card is updated to the final answer (made again when the crash
  came before it was known), and a plan's known reply is sent as it was, not made again;
- a recall stops an answer being streamed in its chat (`halt`) before the recall reads the ledger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from larkdou.answer.base import Decision
from larkdou.answer.reply import Reply
from larkdou.assistant.metrics import AssistantMetrics
from larkdou.assistant.recall import Recaller
from larkdou.assistant.render import Plan, reply_cards_for, reply_of, reply_texts_for
from larkdou.config import Settings
from larkdou.errors import ContentRejectedError, LarkAPIError, MessageGoneError
from larkdou.lark.api import Messenger
from larkdou.lark.client import SentInfo
from larkdou.lark.codes import is_transient
from larkdou.lark.delivery import card_said_as_text, reply_cards, reply_texts
from larkdou.lark.text import reply_uuid
from larkdou.message import Message
from larkdou.store.base import Ledger, SentMessage

if TYPE_CHECKING:
    from larkdou.assistant.live import LiveAnswer

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """How a message was handled. `ack` false: left unacked so that the gateway delivers it again.
    An answered one says what was said (`reply`) and in which bot messages (`messages`, by part)."""

    status: str  # "answered" | "skipped" | "recalled" | "retry"
    reason: str = ""
    ack: bool = True
    reply: Reply | None = None
    messages: list[str] = field(default_factory=list)


RECALLED = Outcome("skipped", "recalled")


@dataclass
class Progress:
    """What the ledger knows of the answer to one message."""

    sent: dict[int, SentMessage] = field(default_factory=dict)  # by part number
    plan: Plan | None = None  # set while the answer is unfinished

    @property
    def answered(self) -> bool:
        return bool(self.sent) and self.plan is None

    @property
    def reply(self) -> Reply | None:
        """The final reply of an unfinished answer, when it was known before the interruption."""
        return None if self.plan is None else self.plan.reply


class Recorder:
    """Records each part as it is sent (`delivery.OnSent`); `recalled` once a recall raced one."""

    def __init__(self, recaller: Recaller, msg: Message):
        self._recaller, self._msg = recaller, msg
        self.recalled = False
        self.sent: dict[int, str] = {}  # part -> bot message id

    async def __call__(self, part: int, info: SentInfo) -> bool:
        msg = self._msg
        self.sent[part] = info.message_id
        sent = SentMessage(message_id=info.message_id, chat_id=info.chat_id or msg.group_id, source_msg_id=msg.msg_id,
                           sent_at_ms=info.create_time_ms, part=part)
        if not await self._recaller.record_and_guard(sent, msg.msg_time):
            self.recalled = True
        return not self.recalled


class Deliverer:
    """Sends answers for the worker; see the module docstring."""

    def __init__(self, settings: Settings, client: Messenger, ledger: Ledger, recaller: Recaller,
                 metrics: AssistantMetrics):
        self.settings = settings
        self.client = client
        self.ledger = ledger
        self.recaller = recaller
        self.metrics = metrics
        self._live: dict[str, tuple[int, LiveAnswer]] = {}  # chat -> (message time, its answer being streamed)

    # ---- the worker's entry points ----------------------------------------------------------
    async def progress(self, source_id: str) -> Progress:
        sent = await self.ledger.sent_for_source(source_id)
        plan = await self.ledger.answer_plan(source_id)
        return Progress({s.part: s for s in sent}, None if plan is None else Plan.load(plan))

    async def deliver(self, msg: Message, decision: Decision, progress: Progress) -> Outcome:
        """Send `decision`'s answer to `msg` (or finish the unfinished one `progress` describes)."""
        if decision.stream is not None:
            from larkdou.assistant.live import LiveAnswer

            live = LiveAnswer(self, msg, decision)
            self._live[msg.group_id] = (msg.msg_time, live)
            try:
                return await live.run()
            finally:
                self._live.pop(msg.group_id, None)
        if not decision.answer:  # an unfinished answer that comes to nothing now
            return await self.withdraw(msg, list(progress.sent.values()), decision.reason or "no_answer")
        plan = progress.plan or Plan(self.settings.assistant.reply_format)
        plan.reply = reply_of(decision)
        await self.ledger.begin_answer(msg.msg_id, plan.dump())
        return await self.send(msg, plan, progress.sent, refresh_first=plan.streamed)

    async def halt(self, chat_id: str, mark_ms: int) -> None:
        """A recall in `chat_id`: stop the answer being streamed there if its message is at or before
        the mark; no update of its card starts after this returns."""
        current = self._live.get(chat_id)
        if current is not None and current[0] <= mark_ms:
            await current[1].halt()

    # ---- sending ----------------------------------------------------------------------------
    def keyword(self, msg: Message) -> str:
        return self.settings.for_chat(msg.group_id).recall_keywords[0]

    def cards(self, msg: Message, reply: Reply) -> list[dict[str, Any]]:
        return reply_cards_for(reply, self.keyword(msg))

    async def send(self, msg: Message, plan: Plan, sent: dict[int, SentMessage], *, refresh_first: bool,
                   record: Recorder | None = None) -> Outcome:
        """Send the parts of `plan` not in `sent`; the answer is finished unless it is to be tried again.
        A streamed first card is updated to its final content when `refresh_first`, else left as it is.
        `record`: the recorder of what this answer already sent now (by default a new one)."""
        assert plan.reply is not None
        record = record or Recorder(self.recaller, msg)
        where = {"source_id": msg.msg_id, "chat_id": msg.group_id,
                 "reply_in_thread": self.settings.lark_group.reply_in_thread}
        try:
            if plan.format == "text":
                await reply_texts(self.client, msg.msg_id, reply_texts_for(plan.reply), done=sent.keys(), sent=record,
                                  **where)
            else:
                cards, first = self.cards(msg, plan.reply), 0
                if plan.streamed:
                    if refresh_first and not await self._refresh(msg, cards[0], sent.get(0), record):
                        return await self.end(msg, RECALLED)
                    cards, first = cards[1:], 1
                await reply_cards(self.client, msg.msg_id, cards, first=first, done=sent.keys(), sent=record, **where)
        except MessageGoneError:
            return await self.end(msg, Outcome("skipped", "question_gone"))
        except LarkAPIError as exc:
            return await self.end(msg, self.failed(msg, exc))
        if record.recalled:
            return await self.end(msg, RECALLED)
        parts = {**{n: s.message_id for n, s in sent.items()}, **record.sent}
        return await self.end(msg, Outcome("answered", reply=plan.reply, messages=[parts[n] for n in sorted(parts)]))

    async def _refresh(self, msg: Message, card: dict[str, Any], streamed: SentMessage | None,
                       record: Recorder) -> bool:
        """The streamed card (found again by its uuid when it was sent but not recorded) shows `card`.
        False when it is gone (recalled)."""
        if streamed is None:
            info = await self.client.reply_card(msg.msg_id, card, uuid=reply_uuid(msg.msg_id, 0),
                                                reply_in_thread=self.settings.lark_group.reply_in_thread,
                                                chat_id=msg.group_id)
            if not await record(0, info):
                return False
            streamed = SentMessage(info.message_id, info.chat_id or msg.group_id, msg.msg_id, info.create_time_ms)
        try:
            await self.client.update_card(streamed.message_id, card, chat_id=msg.group_id)
        except MessageGoneError:
            return False
        except ContentRejectedError as exc:
            return await self.card_refused(msg, streamed, card, record, exc)
        return True

    async def card_refused(self, msg: Message, streamed: SentMessage, card: dict[str, Any], record: Recorder,
                           exc: ContentRejectedError) -> bool:
        """Lark refused the final content of a streamed card: it is taken back (it shows a partial
        answer) and the answer said as text. False when a recall came first."""
        log.warning("chat=%s message=%s: the final card was refused (code=%s: %s); said as text instead",
                    msg.group_id, msg.msg_id, exc.code, exc.msg)
        await self.recaller.take_back(msg.group_id, [streamed])
        done = {p for p in (await self.progress(msg.msg_id)).sent}
        await card_said_as_text(self.client, msg.msg_id, card, source_id=msg.msg_id, chat_id=msg.group_id,
                                reply_in_thread=self.settings.lark_group.reply_in_thread, done=done, sent=record)
        return not record.recalled

    def failed(self, msg: Message, exc: LarkAPIError) -> Outcome:
        """A send Lark refused: tried again later when the fault is transient, else given up."""
        self.metrics.send_failures.labels(code=str(exc.code)).inc()
        log.warning("chat=%s message=%s: reply failed code=%s http=%s log_id=%s", msg.group_id, msg.msg_id,
                    exc.code, exc.http_status, exc.log_id)
        retry = is_transient(exc)
        return Outcome("retry" if retry else "skipped", "send_failed", ack=not retry)

    async def withdraw(self, msg: Message, sent: list[SentMessage], reason: str) -> Outcome:
        """An answer that comes to nothing after all: what it had shown is taken back."""
        if sent:
            report = await self.recaller.take_back(msg.group_id, sent)
            log.info("chat=%s message=%s: the answer came to nothing (%s); %d message(s) taken back",
                     msg.group_id, msg.msg_id, reason, len(report.recalled))
            if not report.complete:
                return Outcome("retry", "withdraw_failed", ack=False)
        return await self.end(msg, Outcome("skipped", reason))

    async def end(self, msg: Message, outcome: Outcome) -> Outcome:
        """The answer is over unless it is to be tried again: its plan goes."""
        if outcome.ack:
            await self.ledger.finish_answer(msg.msg_id)
        return outcome
