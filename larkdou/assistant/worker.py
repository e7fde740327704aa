"""The dispatch loop: recall commands at once, answers in per-chat ordered lanes, chats concurrently.

- A recall command runs as soon as it is fetched, never behind an answer (the gateway hands out the
  recall lane first; here it skips the chat lanes too).
- Messages of one chat are handled one after another, in the order fetched; different chats run
  concurrently, at most `[assistant] concurrency` answers being generated at a time.
- A message is acked only after it is fully handled (answered, skipped or recalled). Exactly one
  answer: a message whose answer is in the ledger is skipped, one whose answer was interrupted (a crash
  between its parts, or while it was streamed into a card) is finished, and every send carries a `uuid`
  derived from the source message id, so a crash between sending and recording cannot post twice
  (`larkdou.assistant.deliver`).
- With `[assistant] reply_format = "card"` an answer an LLM writes is streamed into a card
  (`larkdou.assistant.live`); a recall in the chat stops it before recalling.
- While a message is being handled its lease is extended (a heartbeat every third of the lease), so a
  slow answer is never delivered to another assistant meanwhile. A message that fails is left unacked:
  it comes back after its lease, and the queue parks it after `[gateway] max_attempts` deliveries.
- The conversation (`larkdou.assistant.conversation`): each person's message is kept as context when
  it is handled, each delivered answer after it was sent, and a recall drops the recalled answers.
- `stop()` drains: no more fetching, answers already being written and recalls get
  `[assistant] drain_seconds` to finish and be acked, everything else is left unacked for redelivery.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import time

from larkdou.answer.base import Answerer, Decision
from larkdou.assistant.conversation import Conversation
from larkdou.assistant.deliver import Deliverer, Outcome, Progress
from larkdou.assistant.metrics import AssistantMetrics
from larkdou.assistant.recall import Recaller
from larkdou.assistant.sources import Source
from larkdou.config import Settings
from larkdou.lark.api import Messenger
from larkdou.message import Message
from larkdou.store.base import Delivery, Ledger
from larkdou.store.context import ContextStore

log = logging.getLogger(__name__)

# Messages fetched but not yet handled, per answer slot. Beyond that the worker takes only recall
# commands (so a recall is never stuck behind slow answers) and leaves other messages in the queue for
# other assistants sharing it; a message held past its lease comes back and is merged with the one held.
PREFETCH_PER_SLOT = 2
RECALL_ONLY_WAIT = 1.0  # seconds of each recall-only long-poll while full, before looking at room again

__all__ = ["Outcome", "Worker"]


def takes_stream(answerer: Answerer) -> bool:
    """Whether the answerer can stream (`decide(msg, stream=True)`, see `larkdou.answer.base`)."""
    try:
        return "stream" in inspect.signature(answerer.decide).parameters
    except (TypeError, ValueError):
        return False


class Worker:
    """Pulls from a `Source`, answers through an `Answerer`, sends with a Lark client."""

    def __init__(self, settings: Settings, source: Source, client: Messenger, answerer: Answerer,
                 ledger: Ledger, metrics: AssistantMetrics, *, bot_open_id: str = "",
                 context: ContextStore | None = None):
        self.settings = settings
        self.source = source
        self.client = client
        self.answerer = answerer
        self.ledger = ledger
        self.metrics = metrics
        self.bot_open_id = bot_open_id
        self.recaller = Recaller(ledger, client, metrics, concurrency=settings.assistant.recall_concurrency)
        self.conversation = Conversation(settings, context, self.recaller) if context is not None else None
        self.deliverer = Deliverer(settings, client, ledger, self.recaller, metrics)
        self._streams = settings.assistant.reply_format == "card" and takes_stream(answerer)
        self._answering = asyncio.Semaphore(settings.assistant.concurrency)
        self._prefetch = settings.assistant.concurrency * PREFETCH_PER_SLOT
        self._held = 0  # fetched, not yet handled
        self._lanes: dict[str, collections.deque[Message]] = {}
        self._lane_tasks: dict[str, asyncio.Task] = {}
        self._recall_tasks: set[asyncio.Task] = set()
        self._generating: dict[str, tuple[asyncio.Task, Message]] = {}
        self._pending: dict[str, str] = {}  # msg_id -> latest delivery_id
        self._outcomes: collections.OrderedDict[str, Outcome] = collections.OrderedDict()
        self._changed = asyncio.Condition()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()  # lanes past the answer slot: drained on stop

    # ---- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        """Fetch and dispatch until `stop()` (then drain, see `_stop_all`) or cancellation (then stop
        every lane at once). Whatever is left unacked is delivered again later."""
        heartbeat = asyncio.create_task(self._heartbeat(), name="lease-heartbeat")
        try:
            while not self._stopping.is_set():
                delivery = await self._next()
                if delivery is not None:
                    self._held += 1
                    self._dispatch(delivery)
        finally:
            try:
                await self._stop_all()
            finally:
                heartbeat.cancel()

    async def _heartbeat(self) -> None:
        """Extend the leases of the messages being handled, every third of the lease."""
        lease = self.source.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            held = list(self._pending.values())
            if not held:
                continue
            try:
                kept = await self.source.extend(held, lease)
            except Exception:  # noqa: BLE001 - the next beat tries again; a lost lease means a redelivery
                log.exception("lease extension failed")
                continue
            lost = [d for d, ok in zip(held, kept) if not ok and d in self._pending.values()]
            if lost:
                log.warning("%d lease(s) could not be extended (ran out, or the gateway is unreachable): "
                            "those messages may be delivered again", len(lost))

    async def _next(self) -> Delivery | None:
        """The source's next delivery, or None at once when `stop()` is called meanwhile (a message
        leased by the abandoned fetch comes back when its lease runs out)."""
        if self._held >= self._prefetch:
            fetch = asyncio.ensure_future(self.source.next(recall_only=True, wait=RECALL_ONLY_WAIT))
        else:
            fetch = asyncio.ensure_future(self.source.next(room=self._prefetch - self._held))
        stopped = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((fetch, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (fetch, stopped):
                task.cancel()
            await asyncio.gather(fetch, stopped, return_exceptions=True)
        if self._stopping.is_set() or fetch.cancelled():
            return None
        return fetch.result()

    def stop(self) -> None:
        """Stop fetching; `run()` then drains and returns (see `_stop_all`)."""
        self._stopping.set()

    def _dispatch(self, delivery: Delivery) -> None:
        msg = delivery.message
        if msg.msg_id in self._pending:  # the lease ran out while we still hold it: ack the new one
            self._pending[msg.msg_id] = delivery.delivery_id
            self._held -= 1
            return
        self._pending[msg.msg_id] = delivery.delivery_id
        if msg.is_recall:
            task = asyncio.create_task(self._handle(msg, self._recall), name=f"recall-{msg.group_id}")
            self._recall_tasks.add(task)
            task.add_done_callback(self._recall_tasks.discard)
            return
        self._lanes.setdefault(msg.group_id, collections.deque()).append(msg)
        if msg.group_id not in self._lane_tasks:
            self._lane_tasks[msg.group_id] = asyncio.create_task(self._lane(msg.group_id),
                                                                 name=f"lane-{msg.group_id}")

    async def _lane(self, chat_id: str) -> None:
        lane = self._lanes[chat_id]
        try:
            while lane and not self._stopping.is_set():
                await self._handle(lane.popleft(), self._answer)
                self._in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
        finally:
            self._in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
            self._lanes.pop(chat_id, None)
            self._lane_tasks.pop(chat_id, None)

    async def _handle(self, msg: Message, how) -> None:  # type: ignore[no-untyped-def]
        try:
            outcome = await how(msg)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("chat=%s message=%s: handling failed; it comes back after its lease",
                          msg.group_id, msg.msg_id)
            outcome = Outcome("retry", "error", ack=False)
        delivery_id = self._pending.pop(msg.msg_id, "")
        try:
            if outcome.ack and delivery_id:
                await self.source.ack(delivery_id)
        finally:
            self._held -= 1
        if outcome.status == "skipped":
            self.metrics.skipped.labels(reason=outcome.reason).inc()
        log.info("chat=%s message=%s event=%s: %s %s", msg.group_id, msg.msg_id, msg.event_id,
                 outcome.status, outcome.reason)
        await self._remember(msg.msg_id, outcome)

    # ---- recall -----------------------------------------------------------------------------
    async def _recall(self, msg: Message) -> Outcome:
        if not self.settings.for_chat(msg.group_id).may_recall(msg.user_id):
            return Outcome("skipped", "recall_not_allowed")
        report = await self.recaller.recall_chat(msg.group_id, msg.msg_time, cancel=self._cancel_older)
        if self.conversation is not None:
            await self.conversation.recalled(msg.group_id)
        if not report.complete:
            return Outcome("retry", "recall_incomplete", ack=False)
        return Outcome("recalled", f"{len(report.recalled)} recalled, {len(report.too_old)} too old")

    async def _cancel_older(self, chat_id: str, mark_ms: int) -> None:
        current = self._generating.get(chat_id)
        if current is not None and current[1].msg_time <= mark_ms:
            current[0].cancel()
        await self.deliverer.halt(chat_id, mark_ms)

    # ---- answering --------------------------------------------------------------------------
    async def _answer(self, msg: Message) -> Outcome:
        started = time.monotonic()
        if msg.sender_type == "app" or (self.bot_open_id and msg.user_id == self.bot_open_id):
            return Outcome("skipped", "own_message")
        if self.bot_open_id and any(m.open_id == self.bot_open_id for m in msg.mentions):
            msg.mentioned_bot = True
        if await self.recaller.is_stale(msg.group_id, msg.msg_time):
            return Outcome("skipped", "recalled")
        if self.conversation is not None:
            await self.conversation.heard(msg)
        progress = await self.deliverer.progress(msg.msg_id)
        if progress.answered:
            return Outcome("skipped", "already_answered")
        async with self._answering:
            self._in_flight.add(asyncio.current_task())  # type: ignore[arg-type]  # drained, not dropped
            outcome = await self._answer_now(msg, progress)
        if outcome.status == "answered":
            self.metrics.answered.inc()
            self.metrics.answer_latency.observe(time.monotonic() - started)
            if self.conversation is not None and outcome.reply is not None:
                await self.conversation.answered(msg, outcome.reply, outcome.messages)
        return outcome

    async def _answer_now(self, msg: Message, progress: Progress) -> Outcome:
        """Decide (unless an unfinished answer's reply is known already) and deliver."""
        unfinished = progress.plan is not None
        if unfinished:
            self.metrics.resumed.inc()
            log.info("chat=%s message=%s: finishing an answer interrupted after %d part(s)", msg.group_id,
                     msg.msg_id, len(progress.sent))
        if progress.reply is not None:
            decision: Decision | None = Decision(True, "resumed", reply=progress.reply)
        else:
            decision = await self._generate(msg, stream=self._streams and not unfinished)
        if decision is None:
            return Outcome("skipped", "recalled")
        if not unfinished and (not decision.answer or (decision.stream is None and not decision.text.strip())):
            return Outcome("skipped", decision.reason or "no_answer")
        if await self.recaller.is_stale(msg.group_id, msg.msg_time):
            return Outcome("skipped", "recalled")
        return await self.deliverer.deliver(msg, decision, progress)

    async def _generate(self, msg: Message, *, stream: bool = False) -> Decision | None:
        """The answerer's decision, or None when a recall in the chat cancelled it."""
        task = asyncio.create_task(self.answerer.decide(msg, stream=True) if stream  # type: ignore[call-arg]
                                   else self.answerer.decide(msg))
        self._generating[msg.group_id] = (task, msg)
        try:
            return await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if task.cancelled() and not (me is not None and me.cancelling()):
                return None
            task.cancel()
            raise
        finally:
            self._generating.pop(msg.group_id, None)

    # ---- observing and stopping -------------------------------------------------------------
    async def _remember(self, msg_id: str, outcome: Outcome) -> None:
        async with self._changed:
            self._outcomes[msg_id] = outcome
            while len(self._outcomes) > 10000:
                self._outcomes.popitem(last=False)
            self._changed.notify_all()

    async def wait_handled(self, msg_id: str, timeout: float = 30.0) -> Outcome:
        """Wait until this process has handled `msg_id` (for the demo and tests); TimeoutError else."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: msg_id in self._outcomes)
                return self._outcomes[msg_id]

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    async def _stop_all(self) -> None:
        """After `stop()`: drop what has not started (unacked, so delivered again), let answers in
        flight and recalls finish within `[assistant] drain_seconds`, then cancel the rest. After a
        cancellation: cancel everything at once."""
        me = asyncio.current_task()
        try:
            if self._stopping.is_set() and not (me is not None and me.cancelling()):
                await self._drain(self.settings.assistant.drain_seconds)
        finally:
            tasks = list(self._lane_tasks.values()) + list(self._recall_tasks)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _drain(self, timeout: float) -> None:
        waiting = [task for task in self._lane_tasks.values() if task not in self._in_flight]
        for task in waiting:
            task.cancel()
        finishing = list(self._in_flight) + list(self._recall_tasks)
        log.info("draining: %d answer(s) in flight and %d recall(s) get up to %.0f s; %d message(s) not "
                 "started are left unacked for redelivery", len(self._in_flight), len(self._recall_tasks),
                 timeout, self._held - len(finishing))
        if not finishing:
            return
        _, late = await asyncio.wait(finishing, timeout=timeout)
        if late:
            log.warning("drain: %d answer(s) or recall(s) still running after %.0f s are cancelled; their "
                        "messages stay unacked and are delivered again", len(late), timeout)
