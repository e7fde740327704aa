"""The sandbox's side of Lark's long connection (reference §5), spoken to the official SDK client.

- `POST /callback/ws/endpoint` checks the app's credentials and answers a one-time `ws://` URL plus
  the `ClientConfig` (ping and reconnect intervals).
- The WebSocket at `/ws/v2` speaks the protobuf `pbbp2.Frame`s: CONTROL ping → pong (carrying the
  ClientConfig), DATA frames for events (fragmented when large), and the client's DATA ack
  (`{"code":200}` or 500).
- `LongConnHub.deliver(payload)` sends one event to one connected client chosen at random (cluster
  mode, as Lark does) and waits for its ack. The event push uses it while a client is connected.
- `GET /sandbox/longconn` lists the clients; `POST /sandbox/longconn/drop` cuts every connection;
  `POST /sandbox/longconn/settings` changes the ClientConfig, fragment size and whether new
  connections are accepted.

Choices where Lark's behaviour is unverified: wrong credentials at discovery get HTTP 200 with
code 10014 (the SDK then gives up rather than retrying); a bad or reused ticket fails the handshake
with handshake-status 514 and auth code 1000040351 (the SDK retries with a fresh discovery).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from larkdou.sandbox.bodies import BadRequest, read_object, validated
from larkdou.sandbox.state import SandboxState

log = logging.getLogger(__name__)

ANSWER_WITHIN = 3.0  # seconds Lark waits for the ack
TICKET_TTL = 300.0
CONTROL, DATA = 0, 1
BAD_CREDENTIALS = 10014
SYSTEM_BUSY = 1
AUTH_FAILED = 514
EXCEED_CONN_LIMIT = 1000040350
BAD_TICKET = 1000040351
WS_PATH = "/ws/v2"


class LongConnSettings(BaseModel):
    """What the endpoint hands the client, plus the hub's own knobs; changed at run time by tests."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    ping_interval: int = Field(30, ge=1, le=3600)
    reconnect_interval: int = Field(2, ge=1, le=3600)
    reconnect_nonce: int = Field(1, ge=0, le=3600)
    reconnect_count: int = Field(-1, ge=-1)
    fragment_size: int = Field(64 * 1024, ge=16)
    max_connections: int = Field(50, ge=1)  # Lark allows 50 per app
    accept: StrictBool = True  # False: discovery answers "system busy", as during an outage

    def client_config(self) -> dict[str, int]:
        return {"ReconnectCount": self.reconnect_count, "ReconnectInterval": self.reconnect_interval,
                "ReconnectNonce": self.reconnect_nonce, "PingInterval": self.ping_interval}


@dataclass
class Ack:
    """The outcome of one delivery: `status` is the ack's code (200, 500) or None without an ack."""

    ok: bool
    status: int | None
    error: str
    conn_id: str


@dataclass
class _Client:
    conn_id: str
    service_id: int
    ws: WebSocket
    connected_at: float = field(default_factory=time.time)
    pings: int = 0
    events: int = 0
    acks: dict[int, int] = field(default_factory=dict)  # ack code -> count
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def view(self) -> dict[str, Any]:
        return {"conn_id": self.conn_id, "connected_at": self.connected_at, "pings": self.pings,
                "events": self.events, "acks": {str(k): v for k, v in self.acks.items()}}


def _frame_class() -> Any:
    # The SDK's own generated protobuf class: the wire format is exactly what its client parses.
    return importlib.import_module("lark_oapi.ws.pb.pbbp2_pb2").Frame


def _header(frame: Any, key: str) -> str:
    for h in frame.headers:
        if h.key == key:
            return str(h.value)
    return ""


class LongConnHub:
    """Connected long-connection clients of the sandbox's app, and delivery of events to them."""

    def __init__(self, state: SandboxState, settings: LongConnSettings | None = None):
        self.state = state
        self.settings = settings or LongConnSettings()
        self.clients: dict[str, _Client] = {}
        self._tickets: dict[str, tuple[str, int, float]] = {}
        self._pending: dict[str, tuple[str, asyncio.Future[int]]] = {}
        self._seq = 0
        self._frame: Any = None

    @property
    def connected(self) -> bool:
        """True while at least one client is connected (events then go over the long connection)."""
        return bool(self.clients)

    async def _frames(self) -> Any:
        if self._frame is None:  # importing the SDK takes seconds: keep it off the loop
            self._frame = await asyncio.to_thread(_frame_class)
        return self._frame

    # ---- discovery --------------------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("AppID"), str) \
                or not isinstance(body.get("AppSecret"), str):
            return JSONResponse({"code": 400, "msg": 'send {"AppID": "…", "AppSecret": "…"}'}, status_code=400)
        creds = self.state.creds
        if body["AppID"] != creds.app_id or not hmac.compare_digest(body["AppSecret"].encode(),
                                                                   creds.app_secret.encode()):
            return JSONResponse({"code": BAD_CREDENTIALS, "msg": "invalid app_id or app_secret"})
        if not self.settings.accept:
            return JSONResponse({"code": SYSTEM_BUSY, "msg": "system busy"})
        await self._frames()
        now = time.time()
        self._tickets = {t: v for t, v in self._tickets.items() if v[2] > now}
        conn_id, service_id, ticket = secrets.token_hex(8), random.randint(1, 2**31 - 1), secrets.token_urlsafe(24)
        self._tickets[ticket] = (conn_id, service_id, now + TICKET_TTL)
        scheme = "wss" if request.url.scheme == "https" else "ws"
        url = f"{scheme}://{request.url.netloc}{WS_PATH}?device_id={conn_id}&service_id={service_id}&ticket={ticket}"
        return JSONResponse({"code": 0, "msg": "ok",
                             "data": {"URL": url, "ClientConfig": self.settings.client_config()}})

    # ---- the WebSocket ----------------------------------------------------------------------------
    async def _deny(self, ws: WebSocket, message: str, auth_code: int) -> None:
        headers = {"handshake-status": str(AUTH_FAILED), "handshake-msg": message,
                   "handshake-autherrcode": str(auth_code)}
        await ws.send_denial_response(Response(message, status_code=403, headers=headers))

    async def socket(self, ws: WebSocket) -> None:
        q = ws.query_params
        entry = self._tickets.pop(q.get("ticket", ""), None)
        if entry is None or entry[2] < time.time() or q.get("device_id") != entry[0] \
                or q.get("service_id") != str(entry[1]):
            await self._deny(ws, "invalid or used ticket", BAD_TICKET)
            return
        if len(self.clients) >= self.settings.max_connections:
            await self._deny(ws, "connection limit exceeded", EXCEED_CONN_LIMIT)
            return
        await ws.accept()
        client = _Client(entry[0], entry[1], ws)
        self.clients[client.conn_id] = client
        log.info("long connection conn_id=%s connected (%d connected)", client.conn_id, len(self.clients))
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    await self._on_frame(client, message["bytes"])
        except WebSocketDisconnect:
            pass
        finally:
            self.clients.pop(client.conn_id, None)
            for key, (conn_id, fut) in list(self._pending.items()):
                if conn_id == client.conn_id and not fut.done():
                    fut.set_exception(ConnectionError("connection closed before the ack"))
            log.info("long connection conn_id=%s closed (%d connected)", client.conn_id, len(self.clients))

    async def _on_frame(self, client: _Client, raw: bytes) -> None:
        frame = (await self._frames())()
        try:
            frame.ParseFromString(raw)
        except Exception:  # the protobuf runtime raises its own DecodeError
            log.warning("long connection conn_id=%s: undecodable frame ignored", client.conn_id)
            return
        kind = _header(frame, "type")
        if frame.method == CONTROL and kind == "ping":
            client.pings += 1
            pong = (await self._frames())(SeqID=frame.SeqID, LogID=frame.LogID, service=frame.service,
                                          method=CONTROL, payload=json.dumps(self.settings.client_config()).encode())
            h = pong.headers.add()
            h.key, h.value = "type", "pong"
            await self._send(client, pong.SerializeToString())
        elif frame.method == DATA:
            try:
                code = int(json.loads(frame.payload or b"{}").get("code", 0))
            except (ValueError, AttributeError, TypeError):
                code = 0
            client.acks[code] = client.acks.get(code, 0) + 1
            waiting = self._pending.get(_header(frame, "message_id"))
            if waiting is not None and waiting[0] == client.conn_id and not waiting[1].done():
                waiting[1].set_result(code)

    async def _send(self, client: _Client, data: bytes) -> None:
        async with client.send_lock:
            await client.ws.send_bytes(data)

    # ---- delivery ---------------------------------------------------------------------------------
    async def deliver(self, payload: dict[str, Any]) -> Ack:
        """Send one event to one connected client chosen at random; wait up to 3 s for its ack."""
        if not self.clients:
            return Ack(False, None, "no long-connection client", "")
        client = random.choice(list(self.clients.values()))
        Frame = await self._frames()
        if isinstance(payload.get("header"), dict):  # long-connection payloads carry an empty token
            payload = {**payload, "header": {**payload["header"], "token": ""}}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        size = self.settings.fragment_size
        parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
        message_id, trace_id = secrets.token_hex(16), secrets.token_hex(16)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = (client.conn_id, future)
        try:
            for seq, part in enumerate(parts):
                self._seq += 1
                frame = Frame(SeqID=self._seq, LogID=random.getrandbits(63), service=client.service_id,
                              method=DATA, payload=part)
                for key, value in (("type", "event"), ("message_id", message_id), ("sum", str(len(parts))),
                                   ("seq", str(seq)), ("trace_id", trace_id)):
                    h = frame.headers.add()
                    h.key, h.value = key, value
                await self._send(client, frame.SerializeToString())
            client.events += 1
            code = await asyncio.wait_for(future, ANSWER_WITHIN)
        except (TimeoutError, asyncio.TimeoutError):
            return Ack(False, None, "timeout", client.conn_id)
        except (ConnectionError, WebSocketDisconnect, RuntimeError) as exc:
            return Ack(False, None, f"disconnected: {type(exc).__name__}", client.conn_id)
        finally:
            self._pending.pop(message_id, None)
        return Ack(code == 200, code, "" if code == 200 else f"ack code {code}", client.conn_id)

    async def drop(self) -> int:
        """Close every connection from the server side (the clients reconnect); returns how many."""
        clients = list(self.clients.values())
        for client in clients:
            with contextlib.suppress(Exception):
                await client.ws.close(code=1001)
        return len(clients)

    async def close(self) -> None:
        await self.drop()

    # ---- control routes ---------------------------------------------------------------------------
    async def view(self, request: Request) -> Response:
        return JSONResponse({"clients": [c.view() for c in self.clients.values()],
                             "settings": self.settings.model_dump()})

    async def drop_route(self, request: Request) -> Response:
        return JSONResponse({"dropped": await self.drop()})

    async def settings_route(self, request: Request) -> Response:
        try:
            data = await read_object(request)
            self.settings = validated(LongConnSettings, {**self.settings.model_dump(), **data})
        except BadRequest as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        return JSONResponse(self.settings.model_dump())

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/callback/ws/endpoint", self.endpoint, methods=["POST"]),
            WebSocketRoute(WS_PATH, self.socket),
            Route("/sandbox/longconn", self.view, methods=["GET"]),
            Route("/sandbox/longconn/drop", self.drop_route, methods=["POST"]),
            Route("/sandbox/longconn/settings", self.settings_route, methods=["POST"]),
        ]
