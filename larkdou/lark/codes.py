"""Open API answers -> typed exceptions of `larkdou.errors` (pure: status, body and headers in).

Codes come from `reference/lark-protocol.md` §4.5 and §4.7 and from the error tables of the send,
reply and card-update pages (see docs/lark-cards.md). Recalling an already-recalled message is
assumed to answer 230011 (other message APIs do; unverified for DELETE); 231003 is a deleted or
unknown message and 230110 a deleted one (card update); all three map to `MessageGoneError`.
A refused card (230099, whose `msg` names a sub-code such as 200621 "parse card json err") and
content over the size limit (230025) are permanent: `ContentRejectedError`.
"""

from __future__ import annotations

from typing import Any, Mapping

from larkdou.errors import (
    CardContentError,
    ContentTooLongError,
    LarkAPIError,
    LarkAuthError,
    LarkRateLimited,
    LarkServerError,
    MessageGoneError,
    NotOwnMessageError,
    RecallWindowError,
    UpdateWindowError,
)

TOKEN_INVALID = 99991663  # tenant token expired or invalid: refetch once and retry
FREQUENCY_LIMIT = 99991400  # per-app / per-API limit (HTTP 429, or 400 on old APIs)
CHAT_FREQUENCY_LIMIT = 230020  # per-chat / per-message IM limit (HTTP 400)
WEBHOOK_FREQUENCY_LIMIT = 11232
RATE_LIMIT_CODES = frozenset({FREQUENCY_LIMIT, CHAT_FREQUENCY_LIMIT, WEBHOOK_FREQUENCY_LIMIT})

AUTH_CODES = frozenset({
    99991661,  # Authorization header missing
    99991663,  # tenant token invalid / expired
    99991668,  # user token invalid
    99991671,  # token format error
    99991677,  # user token expired
    99991543,  # wrong app_id / app_secret
    99991662, 99991673,  # app disabled, not installed or unavailable
})

CODE_ERRORS: dict[int, type[LarkAPIError]] = {
    230009: RecallWindowError,  # older than the tenant's recall window
    230026: NotOwnMessageError,  # no permission to recall this message
    230011: MessageGoneError,  # already recalled
    231003: MessageGoneError,  # deleted / not found
    230110: MessageGoneError,  # card update: the message has been deleted
    230031: UpdateWindowError,  # card update: sent more than 14 days ago
    230099: CardContentError,  # "Failed to create card content" (sub-code in msg)
    230025: ContentTooLongError,  # request body over 150 KB (text) / 30 KB (card, post)
}

DEFAULT_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 60.0
RESET_HEADER = "x-ogw-ratelimit-reset"


def log_id_of(body: Mapping[str, Any] | None, headers: Mapping[str, str]) -> str:
    """Lark's request id: the body's `error.log_id`, else the `X-Tt-Logid` header."""
    if body is not None:
        error = body.get("error")
        if isinstance(error, Mapping) and error.get("log_id"):
            return str(error["log_id"])
    return headers.get("x-tt-logid", "") or headers.get("X-Tt-Logid", "")


def retry_after_of(headers: Mapping[str, str]) -> float:
    """Seconds to wait before retrying, from `x-ogw-ratelimit-reset` (bounded)."""
    raw = headers.get(RESET_HEADER) or headers.get(RESET_HEADER.title())
    try:
        value = float(raw) if raw is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        value = DEFAULT_RETRY_AFTER
    if value != value:  # NaN
        value = DEFAULT_RETRY_AFTER
    return min(max(value, 0.05), MAX_RETRY_AFTER)


def error_for(status: int, body: Mapping[str, Any] | None, headers: Mapping[str, str]) -> LarkAPIError | None:
    """The exception an answer stands for, or None when it is a success.

    `body` is the decoded JSON object, or None when the body was not a JSON object.
    """
    log_id = log_id_of(body, headers)
    raw_code = body.get("code") if body is not None else None
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else -1
    msg = str(body.get("msg", "")) if body is not None else "response is not a JSON object"
    kw = {"http_status": status, "log_id": log_id}

    if status == 429 or code in RATE_LIMIT_CODES:
        return LarkRateLimited(code, msg or "rate limited", retry_after=retry_after_of(headers), **kw)
    if status >= 500:
        return LarkServerError(code, msg or f"HTTP {status}", **kw)
    if body is None:
        return (LarkAuthError if status == 401 else LarkAPIError)(code, msg, **kw)
    if code == 0 and status < 400:
        return None
    if code == 0:
        return LarkAPIError(-1, msg or f"HTTP {status}", **kw)
    cls = CODE_ERRORS.get(code)
    if cls is None:
        cls = LarkAuthError if (code in AUTH_CODES or status == 401) else LarkAPIError
    if code == -1 and not msg:
        msg = "answer has no code"
    return cls(code, msg, **kw)


def is_transient(exc: LarkAPIError) -> bool:
    """Whether an Open API failure is worth another try later: a 5xx or transport failure, a rate
    limit, or an authentication failure (the app's token or credentials are at fault, not the request;
    they get fixed). Every other error (a refused parameter, a message that is gone, no permission, too
    old for a recall) gives the same answer when retried: it is permanent for that request, to be
    recorded and not retried. Sending and recalling both decide with this function."""
    return isinstance(exc, (LarkServerError, LarkRateLimited, LarkAuthError))
