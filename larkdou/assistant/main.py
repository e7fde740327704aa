"""`larkdou assistant`: opens the stores and the Lark client, learns the bot's open_id, starts the
worker and the HTTP API; with `--standalone` it also serves the gateway routes on the local queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable

from larkdou.answer.base import Answerer
from larkdou.assistant.api import create_app
from larkdou.assistant.metrics import AssistantMetrics
from larkdou.assistant.sources import HttpSource, QueueSource, Source
from larkdou.backoff import Backoff
from larkdou.assistant.worker import Worker
from larkdou import preflight
from larkdou.config import Settings
from larkdou.errors import LarkServerError
from larkdou.lark.client import LarkApp, LarkClient
from larkdou.serving import check_free, serving
from larkdou.gateway.ingest import BOT_OPEN_ID_META, open_gateway_queue
from larkdou.store import open_ledger
from larkdou.store.base import Ledger, Queue

log = logging.getLogger("larkdou.assistant")


@dataclass
class Running:
    """A started assistant: its worker, its API's base URL and, standalone, the gateway's."""

    worker: Worker
    api_url: str
    gateway_url: str
    bot_open_id: str
    ledger: Ledger
    queue: Queue | None


async def learn_bot_open_id(settings: Settings, client: LarkClient) -> str:
    """The configured open_id, else `bot/v3/info`; an unreachable Lark is retried, bad credentials
    are raised (a LarkAuthError names the problem, never the secret)."""
    if settings.lark_group.bot_open_id:
        return settings.lark_group.bot_open_id
    backoff = Backoff(first=0.5, cap=30.0)
    while True:
        try:
            info = await client.bot_info()
            log.info("bot %r open_id=%s", info.app_name, info.open_id)
            return info.open_id
        except LarkServerError as exc:
            log.warning("Lark unreachable while asking for the bot's open_id (%s); retrying", exc)
            await backoff.sleep()


def default_answerer(settings: Settings, bot_open_id: str) -> Answerer:
    from larkdou.answer import build_answerer

    return build_answerer(settings, bot_open_id=bot_open_id)


@contextlib.asynccontextmanager
async def running(settings: Settings, *, standalone: bool = False, answerer: Answerer | None = None,
                  api_host: str | None = None, api_port: int | None = None,
                  gateway_port: int | None = None) -> AsyncIterator[Running]:
    """Start the assistant inside the running loop; stop it (unacked messages go back) on exit.
    Ports default to the config; 0 picks a free one."""
    async with contextlib.AsyncExitStack() as stack:
        ledger = await open_ledger(settings.assistant_store_url)
        stack.push_async_callback(ledger.close)
        client = LarkClient(LarkApp.from_settings(settings))
        stack.push_async_callback(client.aclose)
        bot_open_id = await learn_bot_open_id(settings, client)
        queue: Queue | None = None
        source: Source
        if standalone:
            queue = await open_gateway_queue(settings)
            stack.push_async_callback(queue.close)
            await queue.set_meta(BOT_OPEN_ID_META, bot_open_id)
            source = QueueSource(queue, wait=settings.assistant.fetch_wait, lease=settings.gateway.lease_seconds)
        else:
            source = HttpSource(settings)
        stack.push_async_callback(source.aclose)
        if answerer is None:
            answerer = default_answerer(settings, bot_open_id)
            stack.push_async_callback(answerer.aclose)
        metrics = AssistantMetrics()
        worker = Worker(settings, source, client, answerer, ledger, metrics, bot_open_id=bot_open_id)
        checks = [ledger.ping] + ([queue.ping] if queue is not None else [])
        api_url = await stack.enter_async_context(serving(
            create_app(answerer, metrics, checks, api_token=settings.secret(settings.assistant.api_token)),
            api_host or settings.assistant.host,
            settings.assistant.port if api_port is None else api_port, keys=("[assistant] host", "[assistant] port")))
        gateway_url = ""
        if queue is not None:
            from larkdou.gateway.app import create_app as create_gateway

            gateway_url = await stack.enter_async_context(serving(
                create_gateway(settings, queue=queue), settings.gateway.host,
                settings.gateway.port if gateway_port is None else gateway_port,
                keys=("[gateway] host", "[gateway] port")))
        task = asyncio.create_task(worker.run(), name="assistant-worker")
        task.add_done_callback(_report_exit)
        try:
            yield Running(worker, api_url, gateway_url, bot_open_id, ledger, queue)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _report_exit(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("the worker stopped: %r", task.exception())


async def until_signalled(work: Awaitable[object]) -> None:
    """Run `work` until it ends or SIGINT / SIGTERM arrives, then cancel it.

    Installed after the servers have started: each uvicorn server captures these signals for itself
    while it runs, and this handler must be the one that sees them."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def handler(signum: int, frame: object) -> None:
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    tasks = [asyncio.ensure_future(work), asyncio.ensure_future(stop.wait())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if tasks[0] in done:
            tasks[0].result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig, old in previous.items():
            signal.signal(sig, old)


async def _serve_until_signalled(settings: Settings, standalone: bool) -> None:
    async with running(settings, standalone=standalone) as run:
        log.info("assistant API on %s%s", run.api_url,
                 f"; gateway routes on {run.gateway_url}" if run.gateway_url else "")
        await until_signalled(asyncio.Event().wait())
    log.info("assistant stopped")


def check_assistant_settings(settings: Settings, standalone: bool) -> None:
    """What the assistant cannot start without, as one clear ConfigError before anything runs: the
    same check as `larkdou config check --role assistant` (or `standalone`)."""
    preflight.check(settings, "standalone" if standalone else "assistant")


def serve(settings: Settings, standalone: bool = False) -> None:
    """Run the assistant in the foreground until SIGINT / SIGTERM."""
    check_assistant_settings(settings, standalone)
    a, g = settings.assistant, settings.gateway
    check_free((a.host, a.port, ("[assistant] host", "[assistant] port")),
               *([(g.host, g.port, ("[gateway] host", "[gateway] port"))] if standalone else []))
    asyncio.run(_serve_until_signalled(settings, standalone))
