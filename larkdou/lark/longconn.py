"""Receive events over Lark's long connection (reference §5) with the official `lark_oapi.ws.Client`.

The SDK's client blocks in `start()`, has no `stop()` and runs on an asyncio loop captured when its
module is imported. So each `LongConnection` runs one client in a daemon thread with that thread's
own loop, and hands every event's exact JSON payload to the ingest coroutine on the application's
loop. Lark wants each event acked within 3 s; the ack says whether the message is durably stored
(at most `INGEST_TIMEOUT`): a store failure becomes ack `{"code":500}` and Lark delivers the event
again. Nothing is lost, and dedup stops doubles.

The SDK calls a synchronous handler inside its frame handler, so a handler that waits for the store
stalls the thread's whole loop: pings, other events, reconnects. Instead the client here overrides
the data-frame handler: it awaits the ingest (scheduled on the application's loop) and then writes the
ack frame itself, exactly as the SDK would. That, the thread-local `loop` and the first-connect retry
rely on SDK internals (`SDK_INTERNALS`), checked when the SDK is first loaded: a version without them
fails at once, naming what is missing, rather than misbehaving. Tested with lark-oapi 1.7.5.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import re
import threading
import time
from typing import Any, Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from larkdou.config import Settings, require
from larkdou.errors import EventError, StoreError
from larkdou.lark.client import LarkApp

log = logging.getLogger("larkdou.longconn")

Ingest = Callable[[dict[str, Any]], Awaitable[str]]

INGEST_TIMEOUT = 2.0  # seconds to store one event; Lark wants the ack within 3 s
STOP_TIMEOUT = 5.0
FIRST_RETRY_JITTER, FIRST_RETRY_INTERVAL = 2, 5  # seconds, before the server has sent its own
_URL_QUERY = re.compile(r"(wss?://[^\s?'\"]+)\?[^\s'\"]*")  # the connect URL carries a ticket


def _scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    text = _URL_QUERY.sub(r"\1?…", text)
    for s in secrets:
        if s:
            text = text.replace(s, "******")
    return text[:300]


class _ScrubUrls(logging.Filter):
    """The SDK logs its connect URL, ticket included; keep only the part before the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "ws" in record.msg:
            record.msg = _scrub(record.getMessage())
            record.args = None
        return True


class _ThreadLoop:
    """Stands in for the SDK's module-level `loop`: each thread sees its own event loop, so several
    clients (one thread each) can live in one process."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio.get_event_loop(), name)


_sdk_lock = threading.Lock()

# What this module uses of `lark_oapi.ws.client` beyond its public surface (lark-oapi 1.7.5).
SDK_INTERNALS = {
    "module": ("loop", "Client", "ClientException", "JSON", "MessageType", "Response", "_get_by_key",
               "HEADER_MESSAGE_ID", "HEADER_SUM", "HEADER_SEQ", "HEADER_TYPE", "HEADER_BIZ_RT", "UTF_8"),
    "Client": ("start", "_connect", "_handle_data_frame", "_combine", "_write_message"),
    "Client()": ("_conn", "_reconnect_nonce", "_reconnect_interval", "on_reconnecting"),
}
SDK_SIGNATURES = {"_handle_data_frame": ["self", "frame"], "_combine": ["self", "msg_id", "sum_", "seq", "bs"]}


def sdk_problems(ws_client: Any) -> list[str]:
    """The SDK internals this module relies on that `ws_client` (the `lark_oapi.ws.client` module)
    lacks or has changed, e.g. ["Client._combine: missing"]; [] when all is as expected."""
    problems = [f"{name}: missing" for name in SDK_INTERNALS["module"] if not hasattr(ws_client, name)]
    client = getattr(ws_client, "Client", None)
    if client is None:
        return problems
    problems += [f"Client.{name}: missing" for name in SDK_INTERNALS["Client"] if not hasattr(client, name)]
    for name, params in SDK_SIGNATURES.items():
        method = getattr(client, name, None)
        if method is not None and list(inspect.signature(method).parameters) != params:
            problems.append(f"Client.{name}: parameters changed to {list(inspect.signature(method).parameters)}")
    try:
        instance = client("cli_check", "check")
    except Exception as exc:  # a changed constructor is a problem like any other
        return problems + [f"Client(app_id, app_secret): {type(exc).__name__}: {exc}"]
    problems += [f"Client().{name}: missing" for name in SDK_INTERNALS["Client()"] if not hasattr(instance, name)]
    return problems


def _sdk() -> Any:
    """Import the SDK's ws client once, check the internals used here, and make it thread-safe as
    described above. Raises RuntimeError naming what a changed SDK lacks."""
    with _sdk_lock:
        from lark_oapi.ws import client as ws_client

        if not isinstance(ws_client.loop, _ThreadLoop):
            problems = sdk_problems(ws_client)
            if problems:
                from importlib.metadata import version

                raise RuntimeError(f"lark-oapi {version('lark-oapi')} lacks what larkdou's long connection uses "
                                   f"({'; '.join(problems)}); install the tested version: pip install "
                                   "'lark-oapi==1.7.5'")
            ws_client.loop = _ThreadLoop()
            sdk_log = logging.getLogger("Lark")
            for handler in list(sdk_log.handlers):  # its own stdout handler: use ours (and their scrubbing)
                sdk_log.removeHandler(handler)
            sdk_log.addFilter(_ScrubUrls())
        return ws_client


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


def _client_class(ws_client: Any) -> type:
    class Client(ws_client.Client):  # type: ignore[misc, name-defined]
        """The SDK client, reporting each connect attempt to its `LongConnection`, and acking events
        once they are stored without blocking its loop."""

        def __init__(self, *args: Any, owner: "LongConnection", **kw: Any):
            super().__init__(*args, **kw)
            self._owner = owner
            self.on_reconnecting = owner._lost
            # Until Lark's ClientConfig replaces them, retry a failed first connect within seconds
            # (the SDK's local defaults wait up to 30 s, then 2 minutes between attempts).
            self._reconnect_nonce, self._reconnect_interval = FIRST_RETRY_JITTER, FIRST_RETRY_INTERVAL

        async def _connect(self) -> None:
            try:
                await super()._connect()
            except ws_client.ClientException as exc:  # the SDK will not retry: stop the thread
                self._owner._failed(exc)
                asyncio.get_running_loop().call_soon(_cancel_all, asyncio.get_running_loop())
                raise
            except Exception as exc:
                self._owner._connect_failed(exc)
                raise
            self._owner._up()

        async def _handle_data_frame(self, frame: Any) -> None:
            """The SDK's handler (1.7.5) with the event handed over by `await`: put the fragments
            together, store the event, ack with its outcome. Other data frames (cards) get no ack,
            as in the SDK."""
            get = ws_client._get_by_key
            headers = frame.headers
            payload = frame.payload
            parts = int(get(headers, ws_client.HEADER_SUM))
            if parts > 1:
                payload = self._combine(get(headers, ws_client.HEADER_MESSAGE_ID), parts,
                                        int(get(headers, ws_client.HEADER_SEQ)), payload)
                if payload is None:
                    return
            if get(headers, ws_client.HEADER_TYPE) != ws_client.MessageType.EVENT.value:
                return
            started = time.monotonic()
            code = await self._owner._store(payload)
            header = headers.add()
            header.key, header.value = ws_client.HEADER_BIZ_RT, str(int((time.monotonic() - started) * 1000))
            frame.payload = ws_client.JSON.marshal(ws_client.Response(code=code)).encode(ws_client.UTF_8)
            await self._write_message(frame.SerializeToString())

    return Client


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
            ws_client = _sdk()
            if self._stopping.is_set():
                return
            client = _client_class(ws_client)(self._app_id, self._app_secret, domain=self._domain, owner=self)
            log.info("long connection: connecting via %s", self._domain)
            client.start()
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the SDK gives up on client errors (bad credentials, too many connections)
            self._failed(exc)
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
                loop.call_soon_threadsafe(_cancel_all, loop)
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

    def _up(self) -> None:
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

    def _lost(self) -> None:
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
        return _scrub(f"{type(exc).__name__}: {exc}", (self._app_secret,))

    def _connect_failed(self, exc: BaseException) -> None:
        with self._lock:
            self._last_error = self._error_text(exc)
        log.warning("long connection: connect failed: %s", self._last_error)

    def _failed(self, exc: BaseException) -> None:
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

    async def _store(self, payload: bytes) -> int:
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


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def start_long_connection(settings: Settings, ingest: Ingest, *, loop: asyncio.AbstractEventLoop | None = None,
                          registry: CollectorRegistry | None = None) -> LongConnection:
    """Create and start a long connection that feeds `ingest` (run on `loop`, default: the running one)."""
    require(settings, "frontend.lark_group.app_id", "frontend.lark_group.app_secret")
    conn = LongConnection(LarkApp.from_settings(settings), ingest, loop=loop, registry=registry)
    conn.start()
    return conn
