"""The sandbox's own HTTP API under `/sandbox/…`: simulated users posting, views of chats and of the
event push log, the URL challenge, fault injection, run-time settings and the live update stream.

Bad input gets HTTP 400 (404 for an unknown chat) with `{"error": "<short reason>"}` and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from larkdou.sandbox.bodies import BadRequest, read_object, validated
from larkdou.sandbox.push import Pusher
from larkdou.sandbox.state import ApiFailure, SandboxState, Tunables

KEEP_ALIVE = 15.0


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserPost(_Body):
    user: StrictStr = Field(min_length=1, max_length=64, pattern=r"\S")
    text: StrictStr = Field(min_length=1, max_length=100_000, pattern=r"\S")
    mention_bot: StrictBool = False
    chat_type: Literal["group", "p2p"] = "group"
    parent_id: StrictStr = Field("", max_length=100)  # reply to (quote) this message
    in_thread: StrictBool = False  # in the thread of parent_id


class NewChat(_Body):
    name: StrictStr = Field(min_length=1, max_length=100, pattern=r"\S")
    chat_type: Literal["group", "p2p"] = "group"
    description: StrictStr = Field("", max_length=500)
    owner: StrictStr = Field("", max_length=64)  # a user's name; empty: the bot owns the group


class RateLimitFault(_Body):
    seconds: float = Field(gt=0, le=3600)


class FaultsUpdate(_Body):
    latency_ms: float | None = Field(None, ge=0, le=60_000)
    error_rate: float | None = Field(None, ge=0, le=1)
    error_status: int | None = Field(None, ge=500, le=599)
    error_count: int | None = Field(None, ge=0)
    expire_tokens: StrictBool = False
    rate_limit: RateLimitFault | None = None
    refuse_cards: StrictBool | None = None


async def _parse(request: Request, model: type[_Body]) -> Any:
    return validated(model, await read_object(request))


def routes(state: SandboxState, pusher: Pusher) -> list[Route]:
    """The control routes bound to one sandbox."""

    def route(path: str, fn, methods: list[str]) -> Route:  # type: ignore[no-untyped-def]
        async def run(request: Request) -> Response:
            try:
                result = await fn(request)
            except BadRequest as exc:
                return JSONResponse({"error": exc.reason}, status_code=exc.status)
            except ApiFailure as exc:
                return JSONResponse({"error": exc.msg, "code": exc.code}, status_code=400)
            return result if isinstance(result, Response) else JSONResponse(result)
        return Route(path, run, methods=methods)

    async def info(request: Request) -> dict[str, Any]:
        return {"app_id": state.creds.app_id, "bot": {"name": state.bot.name, "open_id": state.bot.open_id},
                "default_chat_id": state.default_chat.chat_id, "callback": state.tunables.callback,
                "encrypted": bool(state.creds.encrypt_key), "pending_pushes": pusher.pending}

    async def list_chats(request: Request) -> dict[str, Any]:
        return {"items": [c.view() for c in state.chats.values()]}

    async def new_chat(request: Request) -> dict[str, Any]:
        body: NewChat = await _parse(request, NewChat)
        return state.create_chat(body.name.strip(), body.chat_type, description=body.description.strip(),
                                 owner=body.owner.strip()).view()

    async def post_message(request: Request) -> dict[str, Any]:
        body: UserPost = await _parse(request, UserPost)
        if body.in_thread and not body.parent_id:
            raise BadRequest("in_thread needs parent_id (the message whose thread to post in)")
        msg = state.post_as_user(request.path_params["chat_id"], body.user.strip(), body.text,
                                 body.mention_bot, body.chat_type, body.parent_id, body.in_thread)
        return {"message_id": msg.message_id, "event_id": pusher.push(msg), "chat_id": msg.chat.chat_id,
                "parent_id": msg.parent_id, "root_id": msg.root_id, "thread_id": msg.thread_id}

    async def chat_messages(request: Request) -> dict[str, Any]:
        chat_id = request.path_params["chat_id"]
        if chat_id not in state.chats:
            raise BadRequest(f"no chat {chat_id}", status=404)
        return {"chat": state.chats[chat_id].view(), "items": [m.view() for m in state.chat_messages(chat_id)]}

    async def deliveries(request: Request) -> dict[str, Any]:
        q = request.query_params
        return {"items": pusher.log_view(q.get("message_id", ""), q.get("event_id", ""))}

    async def challenge(request: Request) -> dict[str, Any]:
        return await pusher.challenge()

    async def faults(request: Request) -> dict[str, Any]:
        f = state.faults
        if request.method == "DELETE":
            f.latency_ms = f.error_rate = f.rate_limited_until = 0.0
            f.error_count, f.error_status, f.refuse_cards = 0, 500, False
        elif request.method == "POST":
            body: FaultsUpdate = await _parse(request, FaultsUpdate)
            for key in ("latency_ms", "error_rate", "error_status", "error_count", "refuse_cards"):
                if getattr(body, key) is not None:
                    setattr(f, key, getattr(body, key))
            if body.rate_limit is not None:
                f.rate_limited_until = time.monotonic() + body.rate_limit.seconds
            if body.expire_tokens:
                state.expire_tokens()
        return f.describe()

    async def settings(request: Request) -> dict[str, Any]:
        if request.method == "POST":
            state.tunables = validated(Tunables, {**state.tunables.model_dump(), **await read_object(request)})
        return state.tunables.model_dump()

    async def stream(request: Request) -> Response:
        return StreamingResponse(_updates(state), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return [
        route("/sandbox/info", info, ["GET"]),
        route("/sandbox/chats", list_chats, ["GET"]),
        route("/sandbox/chats", new_chat, ["POST"]),
        route("/sandbox/chats/{chat_id}/messages", post_message, ["POST"]),
        route("/sandbox/chats/{chat_id}/messages", chat_messages, ["GET"]),
        route("/sandbox/deliveries", deliveries, ["GET"]),
        route("/sandbox/challenge", challenge, ["POST"]),
        route("/sandbox/faults", faults, ["GET", "POST", "DELETE"]),
        route("/sandbox/settings", settings, ["GET", "POST"]),
        route("/sandbox/stream", stream, ["GET"]),
    ]


async def _updates(state: SandboxState) -> AsyncIterator[str]:
    """Server-sent events: one `data:` line per change (a chat created, a message posted or recalled)."""
    queue = state.subscribe()
    try:
        yield "retry: 1000\n: connected\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield f"data: {json.dumps(item)}\n\n"
    finally:
        state.unsubscribe(queue)
