"""How `larkdou.lark.longconn` adapts the official `lark_oapi.ws` client (lark-oapi 1.7.5).

- The SDK runs every client on one module-level `loop`, captured at import: `_ThreadLoop` stands in
  for it so that each client thread uses its own loop.
- The SDK calls a synchronous event handler inside its async data-frame handler, so a handler that
  waits for the store stalls the thread's whole loop (pings, other events, reconnects). The client
  here overrides the data-frame handler instead: it awaits the owner's `store_event(payload)` and then
  writes the ack frame itself, exactly as the SDK would.
- Until Lark's ClientConfig arrives, a failed first connect is retried within seconds.

All this relies on SDK internals, listed in `SDK_INTERNALS` and checked when the SDK is first loaded:
a version without them fails at once, naming what is missing, rather than misbehaving.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import threading
import time
from typing import Any, Protocol

FIRST_RETRY_JITTER, FIRST_RETRY_INTERVAL = 2, 5  # seconds, before the server has sent its own
_URL_QUERY = re.compile(r"(wss?://[^\s?'\"]+)\?[^\s'\"]*")  # the connect URL carries a ticket


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` without the connect URL's query (its ticket) or any of `secrets`, at most 300 chars."""
    text = _URL_QUERY.sub(r"\1?…", text)
    for s in secrets:
        if s:
            text = text.replace(s, "******")
    return text[:300]


class _ScrubUrls(logging.Filter):
    """The SDK logs its connect URL, ticket included; keep only the part before the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "ws" in record.msg:
            record.msg = scrub(record.getMessage())
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
    try:  # attributes its constructor sets (building one would start a task on some loop)
        init = inspect.getsource(client.__init__)
    except (OSError, TypeError):
        init = ""
    problems += [f"Client().{name}: missing" for name in SDK_INTERNALS["Client()"] if f"self.{name}" not in init]
    return problems


def sdk() -> Any:
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


class Owner(Protocol):
    """What the client reports to: a `larkdou.lark.longconn.LongConnection`."""

    def connected_now(self) -> None: ...

    def lost(self) -> None: ...

    def connect_failed(self, exc: BaseException) -> None: ...

    def failed(self, exc: BaseException) -> None: ...

    async def store_event(self, payload: bytes) -> int:
        """Store one event's payload; the ack code (200, or 500 for Lark to push it again)."""
        ...


def client_class(ws_client: Any) -> type:
    """The SDK's `Client` adapted as described in the module docstring; built once the SDK is loaded."""
    class Client(ws_client.Client):  # type: ignore[misc, name-defined]
        """The SDK client, reporting each connect attempt to its `LongConnection`, and acking events
        once they are stored without blocking its loop."""

        def __init__(self, *args: Any, owner: Owner, **kw: Any):
            super().__init__(*args, **kw)
            self._owner = owner
            self.on_reconnecting = owner.lost
            # Until Lark's ClientConfig replaces them, retry a failed first connect within seconds
            # (the SDK's local defaults wait up to 30 s, then 2 minutes between attempts).
            self._reconnect_nonce, self._reconnect_interval = FIRST_RETRY_JITTER, FIRST_RETRY_INTERVAL

        async def _connect(self) -> None:
            try:
                await super()._connect()
            except ws_client.ClientException as exc:  # the SDK will not retry: stop the thread
                self._owner.failed(exc)
                asyncio.get_running_loop().call_soon(cancel_all, asyncio.get_running_loop())
                raise
            except Exception as exc:
                self._owner.connect_failed(exc)
                raise
            self._owner.connected_now()

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
            code = await self._owner.store_event(payload)
            header = headers.add()
            header.key, header.value = ws_client.HEADER_BIZ_RT, str(int((time.monotonic() - started) * 1000))
            frame.payload = ws_client.JSON.marshal(ws_client.Response(code=code)).encode(ws_client.UTF_8)
            await self._write_message(frame.SerializeToString())

    return Client


def cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task of `loop` (from its own thread): how a client is stopped."""
    for task in asyncio.all_tasks(loop):
        task.cancel()
