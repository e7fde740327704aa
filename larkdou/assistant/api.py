"""The assistant's HTTP API (port 8888): `/healthz`, `/metrics`, `POST /api/ask`, and the metrics it
serves (on a registry of their own: several apps share one process in tests and in the demo).

`/healthz` reports each dependency (see `larkdou.health`) and keeps the short `store` field.
`/api/ask` runs the answerer on a text and returns its decision and the complete answer (an answer an
LLM streams is written out first); nothing is sent to Lark.
It answers 503 until start-up has an answerer (`app.state.answerer`).
With `[assistant] api_token` set, `/api/ask` and `/metrics` need `Authorization: Bearer <api_token>`
(`/healthz` stays open for load balancers). The API listens on 127.0.0.1 unless `[assistant] host`
says otherwise, and any other address needs the token (see larkdou.preflight).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from larkdou.answer.base import Answerer
from larkdou.answer.streamed import settle
from larkdou.assistant.metrics import AssistantMetrics
from larkdou.health import Health, store_word
from larkdou.message import Message
from larkdou.serving import bearer_ok, error_response, unauthorized

MAX_ASK_BYTES = 64 * 1024
MAX_ASK_CHARS = 8000
CHAT_TYPES = ("group", "p2p")


class _BadRequest(Exception):
    def __init__(self, reason: str, message: str, status: int = 400):
        super().__init__(message)
        self.reason, self.status = reason, status


def ask_message(data: Any) -> Message:
    """Validate an `/api/ask` body into the message the answerer sees."""
    if not isinstance(data, dict):
        raise _BadRequest("not_an_object", 'send a JSON object like {"text": "…"}')
    unknown = set(data) - {"text", "chat_type", "mentioned"}
    if unknown:
        raise _BadRequest("unknown_field", f"unknown field(s): {', '.join(sorted(unknown))}")
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _BadRequest("missing_text", '"text" must be a non-empty string')
    if len(text) > MAX_ASK_CHARS:
        raise _BadRequest("text_too_long", f'"text" is longer than {MAX_ASK_CHARS} characters', 413)
    chat_type = data.get("chat_type", "group")
    if chat_type not in CHAT_TYPES:
        raise _BadRequest("bad_chat_type", '"chat_type" must be "group" or "p2p"')
    mentioned = data.get("mentioned", False)
    if not isinstance(mentioned, bool):
        raise _BadRequest("bad_mentioned", '"mentioned" must be true or false')
    return Message(msg_id=f"api_{uuid.uuid4().hex}", group_id="api", content=text.strip(),
                   chat_type=chat_type, mentioned_bot=mentioned, source="api")


def create_app(answerer: Answerer | None, metrics: AssistantMetrics, health: Health, *,
               api_token: str = "") -> Starlette:
    """The API app. `health` holds what `/healthz` reports; `answerer` may be set later (start-up)
    as `app.state.answerer`; with `api_token`, /api/ask and /metrics need it as a Bearer token."""

    def refused(request: Request) -> Response | None:
        if api_token and not bearer_ok(request.headers, api_token):
            return unauthorized("send Authorization: Bearer <[assistant] api_token>")
        return None

    async def healthz(request: Request) -> Response:
        status, body = await health.check()
        body["store"] = store_word(body, "store", "queue")
        if "long_connection" in body["dependencies"]:
            body["long_connection"] = body["dependencies"]["long_connection"]
        return JSONResponse(body, status_code=status)

    async def metrics_endpoint(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def ask(request: Request) -> Response:
        if (no := refused(request)) is not None:
            return no
        declared = request.headers.get("content-length", "")
        too_large = error_response(413, "too_large", f"the body is larger than {MAX_ASK_BYTES} bytes")
        if declared.isdigit() and int(declared) > MAX_ASK_BYTES:
            return too_large
        body = await request.body()
        if len(body) > MAX_ASK_BYTES:
            return too_large
        try:
            msg = ask_message(json.loads(body))
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            return error_response(400, "not_json", 'send a JSON object like {"text": "…"}')
        except _BadRequest as exc:
            return error_response(exc.status, exc.reason, str(exc))
        answerer: Answerer | None = request.app.state.answerer
        if answerer is None:
            return error_response(503, "starting", "the assistant is starting; see /healthz for what it waits for")
        decision = await settle(await answerer.decide(msg))
        return JSONResponse({"answer": decision.answer, "reason": decision.reason, "text": decision.text,
                             "sources": decision.sources, "score": decision.score, "mode": decision.mode})

    app = Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/api/ask", ask, methods=["POST"]),
    ])
    app.state.answerer = answerer
    return app
