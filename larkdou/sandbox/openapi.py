"""The Open API of the sandbox, under `/open-apis/…`, with Lark's paths, bodies and response shapes
(reference §4 and the wire format lark-oapi 1.7.5 sends, §6; cards: docs/lark-cards.md).

Every call passes one gate, in this order: injected latency, forced rate limiting, injected 5xx,
the tenant token (99991661 missing / 99991663 unknown or expired, both HTTP 400 as Lark answers),
then the per-app limit of that API (HTTP 429, 99991400). Sends and replies also pass the per-chat
limit, card updates the per-message limit (both HTTP 400, 230020). Refusals carry
`x-ogw-ratelimit-reset`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import Any, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from larkdou.sandbox.limits import reset_header
from larkdou.sandbox.state import ApiFailure, SandboxState, StoredMessage

log = logging.getLogger(__name__)

Handler = Callable[[Request, SandboxState], Awaitable[dict[str, Any]]]
PAGE_MAX = 50
CHATS_PAGE_MAX = 100
SORTS = ("ByCreateTimeAsc", "ByCreateTimeDesc")
CHAT_SORTS = ("ByCreateTimeAsc", "ByActiveTimeDesc")
USER_ID_TYPES = ("open_id", "union_id", "user_id")


def routes(state: SandboxState) -> list[Route]:
    """The Open API routes bound to one sandbox state."""
    def api(path: str, handler: Handler, method: str, kind: str, *, auth: bool = True) -> Route:
        return Route(path, _endpoint(state, kind, handler, auth), methods=[method])

    return [
        api("/open-apis/auth/v3/tenant_access_token/internal", _token, "POST", "token", auth=False),
        api("/open-apis/bot/v3/info", _bot_info, "GET", "bot_info"),
        api("/open-apis/im/v1/messages", _send, "POST", "send"),
        api("/open-apis/im/v1/messages", _list, "GET", "list"),
        api("/open-apis/im/v1/messages/{message_id}/reply", _reply, "POST", "reply"),
        api("/open-apis/im/v1/messages/{message_id}", _get, "GET", "get"),
        api("/open-apis/im/v1/messages/{message_id}", _recall, "DELETE", "recall"),
        api("/open-apis/im/v1/messages/{message_id}", _update, "PATCH", "update"),
        api("/open-apis/im/v1/chats", _chats, "GET", "chats"),
    ]


def _endpoint(state: SandboxState, kind: str, handler: Handler, auth: bool) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        log_id = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10)
        try:
            await _faults(state)
            if auth:
                state.check_token(request.headers.get("authorization"))
            wait = state.limits.take("app:" + kind, "", state.tunables.app_rate)
            if wait:
                raise _app_limited(state, wait)
            payload = await handler(request, state)
        except ApiFailure as exc:
            log.info("open api %s refused: code=%s log_id=%s", kind, exc.code, log_id)
            body = {"code": exc.code, "msg": exc.msg, "error": {"log_id": log_id}}
            return JSONResponse(body, status_code=exc.status, headers={"X-Tt-Logid": log_id, **exc.headers})
        except ClientDisconnect:  # the caller went away (a killed assistant) before its body was read
            log.info("open api %s: the caller went away before sending its body; nothing done", kind)
            return Response(status_code=499)
        return JSONResponse(payload, headers={"X-Tt-Logid": log_id})

    return run


async def _faults(state: SandboxState) -> None:
    faults = state.faults
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000)
    wait = faults.rate_limit_wait()
    if wait > 0:
        raise _app_limited(state, wait)
    if faults.should_fail():
        raise ApiFailure(2200, "Internal Error (injected by the sandbox)", status=faults.error_status)


def _app_limited(state: SandboxState, wait: float) -> ApiFailure:
    return ApiFailure(99991400, "request trigger frequency limit", status=429, headers={
        "x-ogw-ratelimit-limit": str(int(state.tunables.app_rate)), "x-ogw-ratelimit-reset": reset_header(wait)})


def _gate(state: SandboxState, kind: str, key: object, rate: float) -> None:
    """Lark's IM limits: 5 QPS per chat (or per user for direct sends), shared by sends and replies;
    5 QPS of updates per message."""
    wait = state.limits.take(kind, str(key), rate)
    if wait:
        raise ApiFailure(230020, "This operation triggers the frequency limit.",
                         headers={"x-ogw-ratelimit-reset": reset_header(wait)})


async def _json(request: Request) -> tuple[dict[str, Any], int]:
    """The JSON object in the body, and the body's size in bytes (Lark's size limits are on it)."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiFailure(230001, "invalid param: the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiFailure(230001, "invalid param: the body must be a JSON object")
    return body, len(raw)


def _int(value: str | None, default: int, what: str) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        raise ApiFailure(230001, f"invalid param: {what} must be an integer") from None


def _ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": 0, "msg": "success", "data": data}


def api_message(state: SandboxState, msg: StoredMessage) -> dict[str, Any]:
    """A message as the Open API returns it (create, reply, get, list)."""
    if msg.sender_type == "app":
        sender = {"id": state.creds.app_id, "id_type": "app_id", "sender_type": "app"}
    else:
        sender = {"id": msg.sender.open_id, "id_type": "open_id", "sender_type": "user"}
    body = '{"text":"This message was recalled"}' if msg.deleted_at is not None else msg.content
    out: dict[str, Any] = {
        "message_id": msg.message_id, "msg_type": msg.msg_type, "create_time": msg.create_ms,
        "update_time": msg.update_ms, "deleted": msg.deleted_at is not None, "updated": msg.updated_at is not None,
        "chat_id": msg.chat.chat_id, "sender": {**sender, "tenant_key": state.tenant_key},
        "body": {"content": body}, "upper_message_id": "",
        "mentions": [{"key": m["key"], "id": m["id"]["open_id"], "id_type": "open_id", "name": m["name"],
                      "tenant_key": m["tenant_key"]} for m in msg.mentions],
    }
    for key in ("root_id", "parent_id", "thread_id"):
        if getattr(msg, key):
            out[key] = getattr(msg, key)
    return out


# ---- handlers -------------------------------------------------------------------------------------
async def _token(request: Request, state: SandboxState) -> dict[str, Any]:
    body, _ = await _json(request)
    token, expire = state.issue_token(body.get("app_id"), body.get("app_secret"))
    return {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire}


async def _bot_info(request: Request, state: SandboxState) -> dict[str, Any]:
    return {"code": 0, "msg": "ok", "bot": {"activate_status": 2, "app_name": state.bot.name,
                                            "avatar_url": "", "ip_white_list": [], "open_id": state.bot.open_id}}


async def _send(request: Request, state: SandboxState) -> dict[str, Any]:
    body, size = await _json(request)
    receive_id_type = request.query_params.get("receive_id_type", "")
    if not receive_id_type:
        raise ApiFailure(230001, "invalid param: the query parameter receive_id_type is required")
    _gate(state, "chat", body.get("receive_id"), state.tunables.chat_rate)
    msg = state.send(receive_id_type, body, size)
    log.info("bot sent message_id=%s chat_id=%s", msg.message_id, msg.chat.chat_id)
    return _ok(api_message(state, msg))


async def _reply(request: Request, state: SandboxState) -> dict[str, Any]:
    body, size = await _json(request)
    target = state.messages.get(request.path_params["message_id"])
    if target is not None:
        _gate(state, "chat", target.chat.chat_id, state.tunables.chat_rate)
    msg = state.reply(request.path_params["message_id"], body, size)
    log.info("bot replied message_id=%s parent_id=%s chat_id=%s", msg.message_id, msg.parent_id, msg.chat.chat_id)
    return _ok(api_message(state, msg))


async def _recall(request: Request, state: SandboxState) -> dict[str, Any]:
    msg = state.recall(request.path_params["message_id"])
    log.info("bot recalled message_id=%s chat_id=%s", msg.message_id, msg.chat.chat_id)
    return {"code": 0, "msg": "success", "data": {}}


async def _update(request: Request, state: SandboxState) -> dict[str, Any]:
    """PATCH im/v1/messages/:id `{"content": "<card JSON>"}`: answers `data: {}`."""
    body, size = await _json(request)
    message_id = request.path_params["message_id"]
    if message_id in state.messages:
        _gate(state, "message", message_id, state.tunables.update_rate)
    msg = state.update(message_id, body, size)
    log.info("bot updated message_id=%s chat_id=%s", msg.message_id, msg.chat.chat_id)
    return {"code": 0, "msg": "success", "data": {}}


async def _chats(request: Request, state: SandboxState) -> dict[str, Any]:
    """GET im/v1/chats: the groups the bot is in, paged (page_size ≤ 100, default 20)."""
    q = request.query_params
    size = _int(q.get("page_size"), 20, "page_size")
    offset = _int(q.get("page_token"), 0, "page_token")
    sort, id_type = q.get("sort_type", CHAT_SORTS[0]), q.get("user_id_type", "open_id")
    if not 1 <= size <= CHATS_PAGE_MAX or offset < 0:
        raise ApiFailure(230001, f"invalid param: page_size must be 1..{CHATS_PAGE_MAX}")
    if sort not in CHAT_SORTS or id_type not in USER_ID_TYPES:
        raise ApiFailure(230001, f"invalid param: sort_type must be one of {', '.join(CHAT_SORTS)} and "
                                 f"user_id_type one of {', '.join(USER_ID_TYPES)}")
    groups = state.group_chats(by_activity=sort == "ByActiveTimeDesc")
    page = groups[offset:offset + size]
    more = offset + size < len(groups)
    items = []
    for chat in page:
        item: dict[str, Any] = {"chat_id": chat.chat_id, "avatar": "", "name": chat.name,
                                "description": chat.description, "external": False,
                                "tenant_key": state.tenant_key, "chat_status": "normal", "chat_mode": "group"}
        if chat.owner is not None:  # Lark lists no owner when a bot owns the group
            item.update(owner_id=chat.owner.ids()[id_type], owner_id_type=id_type)
        items.append(item)
    return _ok({"has_more": more, "page_token": str(offset + size) if more else "", "items": items})


async def _get(request: Request, state: SandboxState) -> dict[str, Any]:
    return _ok({"items": [api_message(state, state.get(request.path_params["message_id"]))]})


async def _list(request: Request, state: SandboxState) -> dict[str, Any]:
    """GET im/v1/messages?container_id_type=chat&container_id=oc_…: history, recalled ones marked."""
    q = request.query_params
    if q.get("container_id_type") != "chat":
        raise ApiFailure(230001, "invalid param: container_id_type must be chat")
    if q.get("container_id", "") not in state.chats:
        raise ApiFailure(230001, "invalid param: unknown container_id")
    start = _int(q.get("start_time"), 0, "start_time")
    end = _int(q.get("end_time"), 2**40, "end_time")
    size = _int(q.get("page_size"), 20, "page_size")
    offset = _int(q.get("page_token"), 0, "page_token")
    if not 1 <= size <= PAGE_MAX or offset < 0:
        raise ApiFailure(230001, f"invalid param: page_size must be 1..{PAGE_MAX}")
    if q.get("sort_type", SORTS[0]) not in SORTS:
        raise ApiFailure(230001, "invalid param: sort_type must be ByCreateTimeAsc or ByCreateTimeDesc")
    items = [m for m in state.chat_messages(q["container_id"]) if start <= m.created <= end]
    if q.get("sort_type") == "ByCreateTimeDesc":
        items.reverse()
    page = items[offset:offset + size]
    more = offset + size < len(items)
    return _ok({"has_more": more, "page_token": str(offset + size) if more else "",
                "items": [api_message(state, m) for m in page]})
