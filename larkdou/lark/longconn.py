"""Receive events over Lark's long connection (reference §5) with the official `lark_oapi.ws.Client`.

The SDK's client blocks in `start()`, has no `stop()` and runs on an asyncio loop captured when its
module is imported. So each `LongConnection` runs one client in a daemon thread with that thread's
own loop, and hands every event's exact JSON payload to the ingest coroutine on the application's
loop. Lark wants each event acked within 3 s; the ack says whether the message is durably stored
(at most `INGEST_TIMEOUT`): a store failure becomes ack `{"code":500}` and Lark delivers the event
again. Nothing is lost, and dedup stops doubles.

Waiting for the store never blocks the client's loop (pings and other events go on meanwhile); how
the SDK is adapted for that, and for one client per thread, is in `larkdou.lark.longconn_sdk`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from typing import Any, Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from larkdou.config import Settings, require
from larkdou.errors import EventError, StoreError
from larkdou.lark.client import LarkApp
from larkdou.lark.longconn_sdk import cancel_all, client_class, scrub, sdk

log = logging.getLogger("larkdou.longconn")

Ingest = Callable[[dict[str, Any]], Awaitable[str]]

INGEST_TIMEOUT = 2.0  # seconds to store one event; Lark wants the ack within 3 s
STOP_TIMEOUT = 5.0


class LongConnMetrics:
    """Prometheus metrics of one long connection, on the registry of the app that owns it."""

    def __init__(self, registry: CollectorRegistry | None):
        self.registry = registry or CollectorRegistry()
        self.connected = Gauge("larkdou_longconn_connected", "1 while the long connection to Lark is up",
                               registry=self.registry)
        self.disconnects = Counter("larkdou_longconn_disconnects_total", "Long connection losses",
                                   registry=self.registry)
        self.reconnects = Counter("larkdou_longconn_reconnects_total",
                                  "Long connection re-established after a loss", registry=self.registry)
        self.events = Counter("larkdou_longconn_events_total", "Events received over the long connection, "
                              "by outcome", ["outcome"], registry=self.registry)


class LongConnection:
    """One long connection to Lark, feeding `ingest` (e.g. `Ingestor.ingest`) on the caller's loop.

    `start()` returns at once; `status()` / `connected` tell how it is doing; `aclose()` ends it.
    """

    def __init__(self, app: LarkApp, ingest: Ingest, *, loop: asyncio.AbstractEventLoop | None = None,
                 registry: CollectorRegistry | None = None, ingest_timeout: float = INGEST_TIMEOUT):
        self._app_id = app.app_id
        self._app_secret = app.app_secret.get_secret_value()
        self._domain = app.domain
        self._ingest = ingest
        self._app_loop = loop or asyncio.get_running_loop()
        self.ingest_timeout = ingest_timeout
        self.metrics = LongConnMetrics(registry)
        self._lock = threading.Lock()
        self._state = "stopped"
        self._ever_connected = False
        self._since: float | None = None
        self._last_error = ""
        self._disconnects = 0
        self._reconnects = 0
        self._events = 0
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the client thread (discovery, connect, then events); returns at once."""
        if self._thread is not None:
            raise RuntimeError("long connection already started")
        self._set_state("connecting")
        self._thread = threading.Thread(target=self._run, name=f"lark-longconn-{self._app_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        client = None
        try:
            ws_client = sdk()
            if self._stopping.is_set():
                return
            client = client_class(ws_client)(self._app_id, self._app_secret, domain=self._domain, owner=self)
            log.info("long connection: connecting via %s", self._domain)
            client.start()
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the SDK gives up on client errors (bad credentials, too many connections)
            self.failed(exc)
        finally:
            self._wind_down(loop, client)

    def _wind_down(self, loop: asyncio.AbstractEventLoop, client: Any) -> None:
        """Cancel what is left on the thread's loop, close the socket, close the loop."""
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        conn = getattr(client, "_conn", None)
        if conn is not None:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.wait_for(conn.close(), 2.0))
        with contextlib.suppress(BaseException):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        self.metrics.connected.set(0)
        with self._lock:
            if self._state != "failed":
                self._state = "stopped"

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """End the connection and its thread (blocking; from async code use `aclose`)."""
        self._stopping.set()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is already closed
                loop.call_soon_threadsafe(cancel_all, loop)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("long connection thread did not stop within %.0f s (left as a daemon)", timeout)

    async def aclose(self) -> None:
        """`stop()` without blocking the caller's loop (the handler may be waiting on it)."""
        await asyncio.to_thread(self.stop)

    # ---- state ----------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._state == "connected"

    def status(self) -> dict[str, Any]:
        """State for /healthz: connecting | connected | reconnecting | failed | stopped, and counters."""
        with self._lock:
            return {"state": self._state, "connected": self._state == "connected",
                    "connected_since": self._since, "disconnects": self._disconnects,
                    "reconnects": self._reconnects, "events": self._events, "last_error": self._last_error}

    def health(self) -> dict[str, Any]:
        """`status()` for larkdou.health: "ok" while connected."""
        return {**self.status(), "ok": self.connected}

    def _set_state(self, state: str) -> None:
        with self._lock:
            self._state = state

    # ---- reports from the client (on its thread; see longconn_sdk.Owner) --------------------------
    def connected_now(self) -> None:
        """A connect attempt succeeded."""
        with self._lock:
            again = self._ever_connected
            self._ever_connected = True
            self._state, self._since = "connected", time.time()
            if again:
                self._reconnects += 1
        self.metrics.connected.set(1)
        if again:
            self.metrics.reconnects.inc()
        log.info("long connection: %s", "reconnected" if again else "connected")

    def lost(self) -> None:
        """The connection is gone; the SDK reconnects."""
        if self._stopping.is_set():
            return
        with self._lock:
            was_up = self._state == "connected"
            self._state, self._since = "reconnecting", None
            if was_up:
                self._disconnects += 1
        self.metrics.connected.set(0)
        if was_up:
            self.metrics.disconnects.inc()
        log.warning("long connection: lost, reconnecting")

    def _error_text(self, exc: BaseException) -> str:
        return scrub(f"{type(exc).__name__}: {exc}", (self._app_secret,))

    def connect_failed(self, exc: BaseException) -> None:
        """A connect attempt failed; the SDK tries again."""
        with self._lock:
            self._last_error = self._error_text(exc)
        log.warning("long connection: connect failed: %s", self._last_error)

    def failed(self, exc: BaseException) -> None:
        """The SDK gave up (bad credentials, too many connections, a changed SDK)."""
        with self._lock:
            self._state, self._since = "failed", None
            self._last_error = self._error_text(exc)
        self.metrics.connected.set(0)
        log.error("long connection: stopped for good: %s", self._last_error)

    # ---- events (on the client thread) ------------------------------------------------------------
    def _count(self, outcome: str) -> None:
        self.metrics.events.labels(outcome).inc()
        with self._lock:
            self._events += 1

    async def store_event(self, payload: bytes) -> int:
        """Hand one event to `ingest` on the application's loop and wait for it without blocking
        this thread's loop; the ack code: 200 (stored, a duplicate, or malformed: redelivery cannot
        fix that), 500 (not stored in time or the store failed: Lark delivers it again)."""
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            self._count("rejected")
            log.error("long connection: dropped an event that is not a JSON object (%d bytes)", len(payload))
            return 200
        ctx = _context(data)
        try:
            future = asyncio.run_coroutine_threadsafe(self._ingest(data), self._app_loop)
            async with asyncio.timeout(self.ingest_timeout):
                outcome = await asyncio.wrap_future(future)
        except TimeoutError:
            self._count("timeout")
            log.error("long connection: %s not stored within %.1f s; ack 500 so Lark redelivers",
                      ctx, self.ingest_timeout)
            return 500
        except EventError as exc:
            self._count("rejected")
            log.error("long connection: dropped malformed event %s: %s", ctx, exc)
            return 200
        except StoreError as exc:
            self._count("store_error")
            log.error("long connection: store unavailable for %s (%s); ack 500 so Lark redelivers", ctx, exc)
            return 500
        except Exception as exc:  # e.g. the application's loop is closed: not stored, say so
            self._count("error")
            log.error("long connection: %s not stored (%s: %s); ack 500 so Lark redelivers",
                      ctx, type(exc).__name__, exc)
            return 500
        self._count(outcome)
        log.debug("long connection: %s %s", outcome, ctx)
        return 200


def _context(data: dict[str, Any]) -> str:
    header = data.get("header") if isinstance(data.get("header"), dict) else {}
    event = data.get("event") if isinstance(data.get("event"), dict) else {}
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    return (f"event_id={header.get('event_id', '')} chat_id={message.get('chat_id', '')} "
            f"message_id={message.get('message_id', '')}")


def start_long_connection(settings: Settings, ingest: Ingest, *, loop: asyncio.AbstractEventLoop | None = None,
                          registry: CollectorRegistry | None = None) -> LongConnection:
    """Create and start a long connection that feeds `ingest` (run on `loop`, default: the running one)."""
    require(settings, "frontend.lark_group.app_id", "frontend.lark_group.app_secret")
    conn = LongConnection(LarkApp.from_settings(settings), ingest, loop=loop, registry=registry)
    conn.start()
    return conn
