"""`larkdou assistant`: the HTTP API first, then the stores and Lark, then the worker.

Start-up: the API (port 8888) opens at once and its `/healthz` answers 503 with what start-up waits
for. The stores are opened and Lark is asked for a tenant token and the bot's open_id, each retried
with a log line while unreachable; bad credentials (`LarkAuthError`) end the process with one line and
exit status 2. Then the answerer, with `--standalone` the gateway routes on the local queue, and the
worker. A configured LLM is checked once, in the background: the assistant starts either way.

Running: if the worker dies the process ends with exit status 1 (never a live process whose worker is
gone). On SIGTERM / SIGINT it drains (see `Worker.stop`) for up to `[assistant] drain_seconds` and
exits 0; a second signal stops it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

from larkdou.answer.base import Answerer
from larkdou.assistant.api import create_app
from larkdou.assistant.metrics import AssistantMetrics
from larkdou.assistant.sources import HttpSource, QueueSource, Source
from larkdou.assistant.worker import Worker
from larkdou import preflight
from larkdou.backoff import Backoff
from larkdou.config import Settings
from larkdou.errors import LarkRateLimited, LarkServerError, StoreError
from larkdou.gateway.ingest import BOT_OPEN_ID_META, open_gateway_queue
from larkdou.health import Health
from larkdou.lark.client import LarkApp, LarkClient
from larkdou.logs import mask_url
from larkdou.serving import check_free, serving
from larkdou.store import open_chat_context, open_ledger
from larkdou.store.base import Ledger, Queue
from larkdou.store.context import ContextStore

log = logging.getLogger("larkdou.assistant")
T = TypeVar("T")


@dataclass
class Running:
    """A started assistant: its worker (and the task running it), its API's base URL and,
    standalone, the gateway's."""

    worker: Worker
    api_url: str
    gateway_url: str
    bot_open_id: str
    ledger: Ledger
    queue: Queue | None
    task: asyncio.Task[None]
    health: Health

    async def drain(self) -> None:
        """Stop fetching and let answers in flight finish (see `Worker.stop`); returns when the
        worker has stopped, raising what killed it if it died."""
        self.health.draining()
        self.worker.stop()
        await asyncio.shield(self.task)


async def _retrying(health: Health, name: str, what: str, attempt: Callable[[], Awaitable[T]],
                    retry_on: tuple[type[Exception], ...]) -> T:
    """`attempt()` until it succeeds; each failure in `retry_on` is a log line, shown on /healthz as
    what start-up waits for, and retried with backoff. Any other error ends start-up."""
    backoff = Backoff(first=0.5, cap=10.0)  # a dependency back is noticed within seconds
    health.waiting(name, f"{what}: connecting")
    while True:
        try:
            value = await attempt()
        except retry_on as exc:
            delay = backoff.delay()
            health.waiting(name, f"{what}: {exc}")
            log.warning("waiting for %s: %s; retrying in %.1f s", what, exc, delay)
            await asyncio.sleep(delay)
            continue
        health.arrived(name)
        return value


async def learn_bot_open_id(settings: Settings, client: LarkClient) -> str:
    """One try: a tenant token (bad credentials raise LarkAuthError, never naming the secret), then
    the configured open_id, else the one `bot/v3/info` gives."""
    await client.check_token()
    if settings.lark_group.bot_open_id:
        return settings.lark_group.bot_open_id
    info = await client.bot_info()
    log.info("bot %r open_id=%s", info.app_name, info.open_id)
    return info.open_id


async def _all(*coros: Awaitable[Any]) -> list[Any]:
    """Run concurrently; the first failure cancels the others and is raised."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def default_answerer(settings: Settings, bot_open_id: str, context: ContextStore | None = None,
                     ledger: Ledger | None = None) -> Answerer:
    from larkdou.answer import build_answerer

    return build_answerer(settings, bot_open_id=bot_open_id, context=context, ledger=ledger)


def _watch_llm(answerer: Answerer, health: Health, metrics: AssistantMetrics,
               stack: contextlib.AsyncExitStack) -> None:
    """When the answerer uses an LLM: its failures on /metrics, its state on /healthz (not required:
    without it the assistant still answers what it can), and one check now, in the background."""
    from larkdou.answer.llm import LLMClient

    llm = getattr(answerer, "llm", None)
    if not isinstance(llm, LLMClient):
        return
    metrics.registry.register(llm.health)
    health.report("llm", llm.health.state, required=False)
    check = asyncio.create_task(llm.check(), name="llm-check")

    async def cancel_check() -> None:
        check.cancel()
        await asyncio.gather(check, return_exceptions=True)

    stack.push_async_callback(cancel_check)


@contextlib.asynccontextmanager
async def running(settings: Settings, *, standalone: bool = False, answerer: Answerer | None = None,
                  api_host: str | None = None, api_port: int | None = None,
                  gateway_port: int | None = None) -> AsyncIterator[Running]:
    """Start the assistant inside the running loop (the API first, see the module docstring); yields
    once the worker runs. On exit the worker is cancelled (unacked messages go back); use
    `Running.drain()` first for a graceful stop. Ports default to the config; 0 picks a free one."""
    async with contextlib.AsyncExitStack() as stack:
        metrics = AssistantMetrics()
        health = Health()
        client = LarkClient(LarkApp.from_settings(settings))
        stack.push_async_callback(client.aclose)
        health.probe("lark", client.check_token)
        api = create_app(answerer, metrics, health, api_token=settings.secret(settings.assistant.api_token))
        api_url = await stack.enter_async_context(serving(
            api, api_host or settings.assistant.host, settings.assistant.port if api_port is None else api_port,
            keys=("[assistant] host", "[assistant] port")))
        log.info("assistant API on %s (/healthz answers 503 until start-up is done)", api_url)

        async def open_ledger_once() -> tuple[Ledger, ContextStore]:
            # the ledger and the conversation context: the same store, opened side by side (one that
            # opened is closed on exit even when the other failed and is tried again)
            opened = await asyncio.gather(open_ledger(settings.assistant_store_url), open_chat_context(settings),
                                          return_exceptions=True)
            for store in opened:
                if not isinstance(store, BaseException):
                    stack.push_async_callback(store.close)
            ledger, context = opened
            for failed in (ledger, context):
                if isinstance(failed, BaseException):
                    raise failed
            health.probe("store", ledger.ping)  # type: ignore[union-attr]
            return ledger, context  # type: ignore[return-value]

        async def open_queue_once() -> Queue:
            queue = await open_gateway_queue(settings)
            stack.push_async_callback(queue.close)
            health.probe("queue", queue.ping)
            return queue

        waits: list[Awaitable[Any]] = [
            _retrying(health, "lark", f"Lark at {settings.lark.domain}", lambda: learn_bot_open_id(settings, client),
                      (LarkServerError, LarkRateLimited)),
            _retrying(health, "store", f"the assistant store {mask_url(settings.assistant_store_url)}",
                      open_ledger_once, (StoreError,))]
        if standalone:
            waits.append(_retrying(health, "queue", f"the gateway store {mask_url(settings.gateway_store_url)}",
                                   open_queue_once, (StoreError,)))
        bot_open_id, (ledger, context), *rest = await _all(*waits)
        queue: Queue | None = rest[0] if rest else None
        source: Source
        if queue is not None:
            await queue.set_meta(BOT_OPEN_ID_META, bot_open_id)
            source = QueueSource(queue, wait=settings.assistant.fetch_wait, lease=settings.gateway.lease_seconds)
        else:
            source = HttpSource(settings)
        stack.push_async_callback(source.aclose)
        if answerer is None:
            answerer = default_answerer(settings, bot_open_id, context, ledger)
            stack.push_async_callback(answerer.aclose)
        _watch_llm(answerer, health, metrics, stack)
        worker = Worker(settings, source, client, answerer, ledger, metrics, bot_open_id=bot_open_id,
                        context=context)
        gateway_url = ""
        if queue is not None:
            from larkdou.gateway.app import create_app as create_gateway

            gateway = create_gateway(settings, queue=queue)
            gateway_url = await stack.enter_async_context(serving(
                gateway, settings.gateway.host, settings.gateway.port if gateway_port is None else gateway_port,
                keys=("[gateway] host", "[gateway] port")))
            conn = gateway.state.gateway.long_connection
            if conn is not None:
                health.report("long_connection", conn.health)
        api.state.answerer = answerer
        task = asyncio.create_task(worker.run(), name="assistant-worker")
        try:
            health.ready()
            yield Running(worker, api_url, gateway_url, bot_open_id, ledger, queue, task, health)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class StopSignals:
    """SIGINT / SIGTERM as events while inside `with`: the first sets `stop`, a second sets `now`."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.now = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def __enter__(self) -> "StopSignals":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(sig, self._received, sig)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(sig)

    def _received(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            log.warning("%s again: stopping at once", sig.name)
            self.now.set()
        else:
            log.info("%s: stopping", sig.name)
            self.stop.set()


async def first(work: Awaitable[T], event: asyncio.Event) -> asyncio.Future[T] | None:
    """Await `work` or `event`, whichever comes first: `work`'s finished future, or None when the
    event came first (`work` is then cancelled)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
    return task


async def until_signalled(work: Awaitable[object]) -> None:
    """Run `work` until it ends (raising what it raised) or SIGINT / SIGTERM arrives (then cancel it)."""
    with StopSignals() as signals:
        done = await first(work, signals.stop)
        if done is not None:
            done.result()


async def _serve(settings: Settings, standalone: bool) -> int:
    """The process: start, run until a signal or the worker's death, drain; the exit status."""
    with StopSignals() as signals:
        async with contextlib.AsyncExitStack() as stack:
            started = await first(stack.enter_async_context(running(settings, standalone=standalone)), signals.stop)
            if started is None:
                log.info("stopped during start-up")
                return 0
            run = started.result()  # a start-up error (bad credentials, broken knowledge base) ends here
            source = run.gateway_url and f"the local queue (gateway routes on {run.gateway_url})"
            log.info("assistant ready: answering messages from %s; drains up to %.0f s on SIGTERM",
                     source or settings.frontend.webhook_url.split("?", 1)[0], settings.assistant.drain_seconds)
            if await first(asyncio.shield(run.task), signals.stop) is not None:
                return _worker_died(run.task)
            drained = await first(run.drain(), signals.now)
            if drained is None:
                log.warning("drain cut short: answers still in flight are cancelled and delivered again")
            elif drained.exception() is not None:
                return _worker_died(run.task)
    log.info("assistant stopped")
    return 0


def _worker_died(task: asyncio.Task[None]) -> int:
    exc = None if task.cancelled() else task.exception()
    why = "cancelled" if task.cancelled() else "ended" if exc is None else f"{type(exc).__name__}: {exc}"
    log.critical("the worker stopped (%s); exiting with status 1 so that a supervisor restarts the assistant",
                 why, exc_info=exc)
    return 1


def check_assistant_settings(settings: Settings, standalone: bool) -> None:
    """What the assistant cannot start without, as one clear ConfigError before anything runs: the
    same check as `larkdou config check --role assistant` (or `standalone`)."""
    preflight.check(settings, "standalone" if standalone else "assistant")


def serve(settings: Settings, standalone: bool = False) -> None:
    """Run the assistant in the foreground until SIGINT / SIGTERM (exit 0) or the worker's death (1)."""
    check_assistant_settings(settings, standalone)
    a, g = settings.assistant, settings.gateway
    check_free((a.host, a.port, ("[assistant] host", "[assistant] port")),
               *([(g.host, g.port, ("[gateway] host", "[gateway] port"))] if standalone else []))
    status = asyncio.run(_serve(settings, standalone))
    if status:
        sys.exit(status)
