"""The gateway ASGI app: `/event` (Lark callback), `/fetch`, `/ack`, `/extend`, `/healthz`, `/metrics`.

`/event` answers in milliseconds: verify, decrypt, dedup, enqueue, return. Nothing slow runs inside
the request. A store failure is a 503 so that Lark delivers the event again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from larkdou.backoff import Backoff
from larkdou.config import Settings
from larkdou.errors import AuthError, EventError, StoreError
from larkdou.gateway import leases
from larkdou.gateway.ingest import DUPLICATE, ENQUEUED, IGNORED, Ingestor, open_gateway_queue
from larkdou.gateway.metrics import GatewayMetrics
from larkdou.health import Health, store_word
from larkdou.lark.envelope import max_request_age, open_envelope
from larkdou.serving import bearer_ok, error_response, unauthorized
from larkdou.store.base import Queue
from larkdou.store.common import lease_for_caller

log = logging.getLogger("larkdou.gateway")

MAX_WAIT = 300.0
_SUCCESS = b'{"msg":"success"}'
_JSON_HEADERS = [(b"content-type", b"application/json")]


_STORE_DOWN = {"error": "store_unavailable", "message": "the store is unavailable; retry later"}
# the one answer to every /event request that fails authentication, whatever the reason
_UNAUTHENTICATED = b'{"error":"unauthorized","message":"request not authenticated"}'


def _store_down() -> JSONResponse:
    return JSONResponse(_STORE_DOWN, status_code=503)


class _TooLarge(Exception):
    pass


async def _watch_disconnect(receive: Receive, gone: asyncio.Event) -> None:
    """Set `gone` when the client disconnects (the request's body, if any, is read and dropped)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


async def _read_body(headers: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes (declared or streamed)."""
    declared = headers.get("content-length") or ""
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


class Gateway:
    """Request handlers; the state they share lives here, not in globals."""

    def __init__(self, settings: Settings, queue: Queue | None):
        self.settings = settings
        self.queue = queue
        self.own_queue = queue is None
        self.metrics = GatewayMetrics()
        self._outcomes = {o: self.metrics.events.labels(o) for o in (ENQUEUED, DUPLICATE, IGNORED)}
        self.ingestor: Ingestor | None = Ingestor(settings, queue) if queue else None
        lg = settings.lark_group
        self.encrypt_key = lg.encrypt_key.get_secret_value()
        self.verification_token = lg.verification_token.get_secret_value()
        self.max_age = max_request_age(settings.gateway.dedup_hours)
        self.fetch_token = settings.gateway.fetch_token.get_secret_value()
        self.metrics_token = settings.gateway.metrics_token.get_secret_value()
        self.long_connection: Any = None  # a LongConnection when receive_mode = "long_connection"
        self.health = Health(starting=queue is None)
        self.health.probe("store", self._ping)
        if queue is None:
            self.health.waiting("store", "opening the store")

    async def _open_store(self) -> None:
        """Open the store, retrying while it is unreachable (requests get 503 meanwhile)."""
        backoff = Backoff(first=0.5, cap=10.0)
        while True:
            try:
                queue = await open_gateway_queue(self.settings)
            except StoreError as exc:
                delay = backoff.delay()
                self.health.waiting("store", str(exc))
                log.error("store unavailable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            self.ingestor = Ingestor(self.settings, queue)
            self.queue = queue
            self.health.ready()
            return

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        opener = None
        if self.queue is None:
            opener = asyncio.create_task(self._open_store())
            await asyncio.wait([opener], timeout=2.0)
        if self.settings.lark_group.receive_mode == "long_connection":
            from larkdou.lark.longconn import start_long_connection

            self.long_connection = start_long_connection(self.settings, self._ingest_payload,
                                                         registry=self.metrics.registry)
            self.health.report("long_connection", self.long_connection.health)
        try:
            yield
        finally:
            if self.long_connection is not None:
                await self.long_connection.aclose()
            if opener is not None and not opener.done():
                opener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await opener
            if self.own_queue and self.queue is not None:
                await self.queue.close()

    async def _ingest_payload(self, payload: dict[str, Any]) -> str:
        """The long connection's way in: the same ingest path as /event."""
        if self.ingestor is None:
            raise StoreError("store not open yet")
        return await self.ingestor.ingest(payload)

    # ---- POST /event (raw ASGI: the hot path) -------------------------------------------------
    async def event(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            status, body = await self._event(scope, receive)
        finally:
            self.metrics.latency.observe(time.perf_counter() - started)
        await send({"type": "http.response.start", "status": status, "headers": _JSON_HEADERS})
        await send({"type": "http.response.body", "body": body})

    def _reject(self, scope: Scope, status: int, reason: str, message: str) -> tuple[int, bytes]:
        self.metrics.events.labels("rejected").inc()
        self.metrics.rejected.labels(reason).inc()
        client = scope["client"][0] if scope.get("client") else "?"
        log.warning("rejected /event from %s: %s (%s)", client, reason, message)
        return status, _json_bytes({"error": reason, "message": message})

    def _unauthenticated(self, scope: Scope, exc: AuthError) -> tuple[int, bytes]:
        """Same status, same body for every authentication failure; the reason goes to the log only."""
        self.metrics.events.labels("rejected").inc()
        self.metrics.rejected.labels("unauthenticated").inc()
        client = scope["client"][0] if scope.get("client") else "?"
        log.warning("rejected /event from %s: unauthenticated (%s: %s)", client, exc.reason, exc)
        return 401, _UNAUTHENTICATED

    async def _event(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await _read_body(headers, receive, self.settings.gateway.max_body_bytes)
        except _TooLarge:
            return self._reject(scope, 413, "too_large", "body over the size limit")
        except ClientDisconnect:
            return self._reject(scope, 400, "disconnected", "client went away")
        try:
            env = open_envelope(body, headers, encrypt_key=self.encrypt_key,
                                verification_token=self.verification_token, max_age=self.max_age)
            if env.challenge is not None:
                self.metrics.events.labels("challenge").inc()
                log.info("answered url_verification challenge")
                return 200, _json_bytes({"challenge": env.challenge})
            if self.ingestor is None:
                raise StoreError("store not open yet")
            outcome = await self.ingestor.ingest_envelope(env)
        except AuthError as exc:
            return self._unauthenticated(scope, exc)
        except EventError as exc:
            return self._reject(scope, exc.status, exc.reason, str(exc))
        except StoreError as exc:
            self.metrics.events.labels("store_error").inc()
            log.error("store unavailable, answering 503 so Lark retries: %s", exc)
            return 503, _json_bytes(_STORE_DOWN)
        self._outcomes[outcome].inc()
        if outcome == DUPLICATE:
            self.metrics.duplicates.inc()
        elif outcome == IGNORED:
            self.metrics.ignored.labels(env.event_type or "unknown").inc()
        return 200, _SUCCESS

    async def event_info(self, request: Request) -> Response:
        """`POST /event` is the hot path (see GatewayApp); a browser's GET gets a hint."""
        return error_response(405, "method_not_allowed", "Lark POSTs events to this URL; set it as the request URL")

    # ---- /fetch and /ack --------------------------------------------------------------------
    def _refuse(self, request: Request, counter: Any) -> Response | None:
        """The answer for a /fetch or /ack that cannot be served (no token, store not open), else None.
        Without a `[gateway] fetch_token` these routes are off: nothing opens them."""
        if not self.fetch_token:
            counter.labels("disabled").inc()
            return error_response(404, "fetch_disabled",
                                  "/fetch and /ack are off: no [gateway] fetch_token is configured")
        if not bearer_ok(request.headers, self.fetch_token):
            counter.labels("unauthorized").inc()
            return unauthorized("send Authorization: Bearer <[gateway] fetch_token>")
        return _store_down() if self.queue is None else None

    @staticmethod
    def _seconds(request: Request, name: str, default: float, high: float) -> float:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise EventError(f"{name} must be a number of seconds", reason=f"bad_{name}") from None
        if not 0 <= value <= high:
            raise EventError(f"{name} must be between 0 and {high:g}", reason=f"bad_{name}")
        return value

    async def fetch(self, request: Request) -> Response:
        if (refused := self._refuse(request, self.metrics.fetches)) is not None:
            return refused
        assert self.queue is not None
        gw = self.settings.gateway
        try:
            wait = self._seconds(request, "wait", gw.fetch_wait, MAX_WAIT)
            lease = self._seconds(request, "lease", gw.lease_seconds, 24 * 3600)
        except EventError as exc:
            return error_response(400, exc.reason, str(exc))
        if lease <= 0:
            return error_response(400, "bad_lease", "lease must be more than 0")
        lane = request.query_params.get("lane", "any")
        if lane not in ("any", "recall"):
            return error_response(400, "bad_lane", "lane must be 'recall' (recall commands only) or 'any'")
        try:
            batch = leases.batch_size(request.query_params)
        except EventError as exc:
            return error_response(400, exc.reason, str(exc))
        gone = asyncio.Event()  # the client closed the connection (an assistant stopping mid long-poll)
        watch = asyncio.ensure_future(_watch_disconnect(request.receive, gone))
        try:
            # nobody would read the answer once the client is gone: what was leased meanwhile goes back
            # now, not when its lease runs out (which would hold a recall back for `lease_seconds`)
            got = await lease_for_caller(self.queue, batch or 1, lease, wait, recall_only=lane == "recall",
                                         abandoned=gone)
        except StoreError as exc:
            self.metrics.fetches.labels("store_error").inc()
            log.error("store unavailable during /fetch: %s", exc)
            return _store_down()
        finally:
            watch.cancel()
        if gone.is_set():
            self.metrics.fetches.labels("abandoned").inc()
            return Response(status_code=499)
        self.metrics.fetches.labels("message" if got else "empty").inc()
        for d in got:
            log.info("fetched chat_id=%s message_id=%s delivery_id=%s attempt=%d", d.message.group_id,
                     d.message.msg_id, d.delivery_id, d.attempts)
        return JSONResponse(leases.fetch_answer(got, batch))

    async def ack(self, request: Request) -> Response:
        return await self._change_leases(request, self.metrics.acks, "acked",
                                         lambda data: self.queue.ack_many)  # type: ignore[union-attr]

    async def extend(self, request: Request) -> Response:
        """Keep leases alive while their messages are still being answered."""
        def prepare(data: dict[str, Any]) -> Callable[[list[str]], Awaitable[list[bool]]]:
            seconds = leases.extend_seconds(data, self.settings.gateway.lease_seconds)
            return lambda ids: self.queue.extend(ids, seconds)  # type: ignore[union-attr]

        return await self._change_leases(request, self.metrics.extends, "extended", prepare)

    async def _change_leases(self, request: Request, counter: Any, key: str,
                             prepare: Callable[[dict[str, Any]], Callable[[list[str]], Awaitable[list[bool]]]]
                             ) -> Response:
        """/ack and /extend: read the ids (and what `prepare` needs) from the body, apply the change
        to each lease in one store call, answer one bool per id (one bool for the one-id form)."""
        if (refused := self._refuse(request, counter)) is not None:
            return refused
        try:
            body = await _read_body(request.headers, request.receive, 256 * 1024)
        except (_TooLarge, ClientDisconnect):
            return error_response(400, "not_json", f"body unreadable or too large; {leases.IDS_HINT}")
        try:
            data = leases.parse_body(body)
            ids = leases.lease_ids(data)
            change = prepare(data)
        except EventError as exc:
            return error_response(400, exc.reason, str(exc))
        try:
            done = await change(ids.ids)
        except StoreError as exc:
            log.error("store unavailable during %s: %s", request.url.path, exc)
            return _store_down()
        counter.labels(key).inc(sum(done))
        counter.labels("stale").inc(len(done) - sum(done))
        return JSONResponse(ids.answer(key, done))

    # ---- health and metrics -------------------------------------------------------------------
    async def _ping(self) -> None:
        if self.queue is None:
            raise StoreError("store not open yet")
        await self.queue.ping()

    async def healthz(self, request: Request) -> Response:
        """Each dependency (store; long connection when used, see `larkdou.health`), plus the short
        `store` field, the queue `depth` and the long connection's `status()` as before."""
        status, body = await self.health.check()
        body["store"] = store_word(body, "store")
        if body["store"] == "ok" and self.queue is not None:
            try:
                body["depth"] = await self.queue.depth()
            except StoreError:
                body["store"], body["status"], status = "unreachable", "unavailable", 503
        if self.long_connection is not None:
            body["long_connection"] = self.long_connection.status()
        return JSONResponse(body, status_code=status)

    async def metrics_endpoint(self, request: Request) -> Response:
        if self.metrics_token and not bearer_ok(request.headers, self.metrics_token):
            return unauthorized("send Authorization: Bearer <[gateway] metrics_token>")
        if self.queue is not None:
            with contextlib.suppress(StoreError):
                for lane, n in (await self.queue.depth()).items():
                    self.metrics.depth.labels(lane).set(n)
                self.metrics.dead.set(await self.queue.dead_count())
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def routes(self) -> list[Route]:
        return [
            Route("/event", self.event_info, methods=["GET"]),
            Route("/fetch", self.fetch, methods=["POST", "GET"]),
            Route("/ack", self.ack, methods=["POST"]),
            Route("/extend", self.extend, methods=["POST"]),
            Route("/healthz", self.healthz, methods=["GET"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
        ]


class GatewayApp(Starlette):
    """Starlette, with the Lark callback taken straight to its handler: `POST /event` is the hot
    path (every group message), so it skips the generic routing and middleware layers."""

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["path"] == "/event" and scope["method"] == "POST":
            scope["app"] = self
            await self.state.gateway.event(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, *, queue: Queue | None = None) -> Starlette:
    """The gateway app. With `queue=None` it opens `settings.gateway_store_url` in its lifespan;
    a queue passed in (standalone mode) is used as is and not closed."""
    gw = Gateway(settings, queue)
    app = GatewayApp(routes=gw.routes(), lifespan=gw.lifespan)
    app.state.gateway = gw
    return app
