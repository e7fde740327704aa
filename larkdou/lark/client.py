"""The Lark Open API client: one pooled HTTP client, one request choke-point.

`LarkClient._request` is the only place that talks to Lark. It adds the tenant token (cached, fetched
once for all concurrent callers, refetched once on 99991663), keeps the per-app, per-chat and
per-message (card update) rate limits, waits out rate-limit answers for as long as
`x-ogw-ratelimit-reset` says, retries 5xx, timeouts and connection errors with jittered exponential
backoff, and turns every other failure into a typed exception from `larkdou.errors` without retrying
it. Every send and reply carries a `uuid` (see `reply_uuid`), so a retry never posts twice; a card
update is idempotent (the whole card is replaced), so retrying it is safe too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from larkdou.backoff import Backoff
from larkdou.config import Settings
from larkdou.errors import LarkAPIError, LarkAuthError, LarkRateLimited, LarkServerError
from larkdou.lark.cards import CARD_BODY_MAX, card_content
from larkdou.lark.codes import CHAT_FREQUENCY_LIMIT, TOKEN_INVALID, error_for
from larkdou.lark.text import TEXT_BODY_MAX, UUID_MAX, encoded_size, reply_uuid, split_text, text_content
from larkdou.lark.token_cache import TokenCache
from larkdou.logs import register_secret
from larkdou.ratelimit import KeyedRateLimiter, RateLimiter

__all__ = ["BotInfo", "ChatInfo", "LarkApp", "LarkClient", "SentInfo", "TokenCache", "reply_uuid", "split_text"]

log = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MAX_BACKOFF = 10.0
PAGE_SIZE_MAX = 50
CHATS_PAGE_MAX = 100  # GET im/v1/chats: page_size 1..100 (default 20)
MESSAGE_UPDATE_RATE = 5.0  # Lark: card updates per second on one message


@dataclass(frozen=True)
class LarkApp:
    """What the client needs to know: where Lark is, the app's credentials, and the limits to keep."""

    domain: str
    app_id: str
    app_secret: SecretStr
    timeout: float = 10.0
    max_retries: int = 4  # per kind of fault: 5xx/transport, rate limit
    retry_backoff: float = 0.5
    app_rate: float = 50.0  # requests/s per app
    app_per_minute: int = 1000  # 0 = no minute cap
    chat_rate: float = 5.0  # sends/s per chat

    @classmethod
    def from_settings(cls, settings: Settings) -> "LarkApp":
        cfg, group = settings.lark, settings.lark_group
        return cls(domain=cfg.domain, app_id=group.app_id, app_secret=group.app_secret, timeout=cfg.timeout,
                   max_retries=cfg.max_retries, retry_backoff=cfg.retry_backoff, app_rate=cfg.app_rate,
                   app_per_minute=cfg.app_per_minute, chat_rate=cfg.chat_rate)


@dataclass(frozen=True)
class BotInfo:
    open_id: str
    app_name: str


@dataclass(frozen=True)
class SentInfo:
    message_id: str
    chat_id: str
    create_time_ms: int


@dataclass(frozen=True)
class ChatInfo:
    """A group the bot is in, as `GET /open-apis/im/v1/chats` lists it (direct chats are not listed).
    `owner_id` is empty when a bot owns the group; `chat_mode` is e.g. "group" or "topic"."""

    chat_id: str
    name: str
    description: str = ""
    owner_id: str = ""
    owner_id_type: str = ""
    chat_mode: str = "group"
    chat_status: str = "normal"
    external: bool = False
    tenant_key: str = ""


class LarkClient:
    """Async client for the few Open APIs larkdou uses. Use as `async with LarkClient(app)`; it
    implements `larkdou.lark.api.Messenger`, what the assistant needs of Lark."""

    def __init__(self, app: LarkApp, *, transport: httpx.AsyncBaseTransport | None = None):
        cfg = app
        self._app_id = app.app_id
        self._app_secret = app.app_secret
        self._max_retries = cfg.max_retries
        self._backoff = cfg.retry_backoff
        self._http = httpx.AsyncClient(
            base_url=cfg.domain, timeout=cfg.timeout, transport=transport,
            headers={"User-Agent": "larkdou"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self._tokens = TokenCache(self._fetch_token)
        self._app_limit = RateLimiter(cfg.app_rate, per_minute=cfg.app_per_minute)
        self._chat_limit = KeyedRateLimiter(cfg.chat_rate)
        self._message_limit = KeyedRateLimiter(MESSAGE_UPDATE_RATE)

    async def __aenter__(self) -> LarkClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._tokens.aclose()
        await self._http.aclose()

    # ---- the API --------------------------------------------------------------------------

    async def check_token(self) -> None:
        """Raise unless a tenant token can be had (the cached one, else a fresh fetch): the health
        probe of "can we talk to Lark". LarkAuthError means bad credentials."""
        await self._tokens.get()

    async def bot_info(self) -> BotInfo:
        """The bot's own open_id and name (`GET /open-apis/bot/v3/info`)."""
        body = await self._request("GET", "/open-apis/bot/v3/info")
        bot = body.get("bot") or (body.get("data") or {}).get("bot") or {}
        if not bot.get("open_id"):
            raise LarkAPIError(-1, "bot info has no open_id")
        return BotInfo(open_id=str(bot["open_id"]), app_name=str(bot.get("app_name", "")))

    async def send_text(self, chat_id: str, text: str, *, uuid: str) -> SentInfo:
        """Post `text` into chat `chat_id`. The same `uuid` within an hour posts at most once."""
        _check_text(text, uuid)
        body = await self._request(
            "POST", "/open-apis/im/v1/messages", params={"receive_id_type": "chat_id"},
            json_body={"receive_id": chat_id, "msg_type": "text", "content": text_content(text), "uuid": uuid},
            chat_id=chat_id,
        )
        return _sent(body, chat_id)

    async def reply_text(self, message_id: str, text: str, *, uuid: str, reply_in_thread: bool = False,
                         chat_id: str = "") -> SentInfo:
        """Reply to `message_id` (quoting it). `chat_id`, when known, keeps the per-chat rate limit."""
        _check_text(text, uuid)
        body = await self._request(
            "POST", f"/open-apis/im/v1/messages/{_seg(message_id)}/reply",
            json_body={"msg_type": "text", "content": text_content(text), "reply_in_thread": reply_in_thread,
                       "uuid": uuid},
            chat_id=chat_id,
        )
        return _sent(body, chat_id)

    async def send_card(self, chat_id: str, card: dict[str, Any], *, uuid: str) -> SentInfo:
        """Post an interactive card (see `larkdou.lark.cards`) into chat `chat_id`."""
        content = _check_card(card, uuid)
        body = await self._request(
            "POST", "/open-apis/im/v1/messages", params={"receive_id_type": "chat_id"},
            json_body={"receive_id": chat_id, "msg_type": "interactive", "content": content, "uuid": uuid},
            chat_id=chat_id,
        )
        return _sent(body, chat_id)

    async def reply_card(self, message_id: str, card: dict[str, Any], *, uuid: str, reply_in_thread: bool = False,
                         chat_id: str = "") -> SentInfo:
        """Reply to `message_id` with a card (quoting it). Raises `CardContentError` when Lark cannot
        build the card and `ContentTooLongError` when it is too large; send text instead then."""
        content = _check_card(card, uuid)
        body = await self._request(
            "POST", f"/open-apis/im/v1/messages/{_seg(message_id)}/reply",
            json_body={"msg_type": "interactive", "content": content, "reply_in_thread": reply_in_thread,
                       "uuid": uuid},
            chat_id=chat_id,
        )
        return _sent(body, chat_id)

    async def update_card(self, message_id: str, card: dict[str, Any], *, chat_id: str = "") -> None:
        """Replace the card of one of the bot's card messages (`PATCH im/v1/messages/:id`).

        At most 5 updates per second per message (kept here; a 230020 is waited out). The card must
        keep `config.update_multi: true`. Raises `MessageGoneError` once the message is recalled or
        deleted, `UpdateWindowError` after 14 days, `CardContentError` / `ContentTooLongError`.
        """
        content = _check_card(card, None)
        await self._request("PATCH", f"/open-apis/im/v1/messages/{_seg(message_id)}", json_body={"content": content},
                            log_chat_id=chat_id, message_id=message_id)

    async def list_chats(self, page_size: int = CHATS_PAGE_MAX) -> list[ChatInfo]:
        """Every group the bot is in (`GET /open-apis/im/v1/chats`, all pages), oldest first."""
        if not 1 <= page_size <= CHATS_PAGE_MAX:
            raise ValueError(f"page_size must be 1..{CHATS_PAGE_MAX}")
        params: dict[str, Any] = {"page_size": page_size, "sort_type": "ByCreateTimeAsc"}
        items = await self._all_pages("/open-apis/im/v1/chats", params)
        return [c for c in (_chat(item) for item in items if isinstance(item, dict)) if c.chat_id]

    async def recall(self, message_id: str, *, chat_id: str = "") -> None:
        """Recall (delete) one of the bot's messages.

        Raises RecallWindowError (too old), NotOwnMessageError, MessageGoneError (already recalled
        or deleted), or another LarkAPIError.
        """
        await self._request("DELETE", f"/open-apis/im/v1/messages/{_seg(message_id)}", log_chat_id=chat_id)

    async def list_messages(self, chat_id: str, page_size: int = 50) -> list[dict[str, Any]]:
        """Every message of a chat, oldest first, following all pages."""
        if not 1 <= page_size <= PAGE_SIZE_MAX:
            raise ValueError(f"page_size must be 1..{PAGE_SIZE_MAX}")
        params: dict[str, Any] = {"container_id_type": "chat", "container_id": chat_id, "page_size": page_size}
        return await self._all_pages("/open-apis/im/v1/messages", params, log_chat_id=chat_id)

    async def _all_pages(self, path: str, params: dict[str, Any], *, log_chat_id: str = "") -> list[dict[str, Any]]:
        """The items of every page of a GET list API (`has_more` / `page_token`)."""
        items: list[dict[str, Any]] = []
        while True:
            data = (await self._request("GET", path, params=params, log_chat_id=log_chat_id)).get("data") or {}
            items.extend(data.get("items") or [])
            token = data.get("page_token")
            if not data.get("has_more") or not token:
                return items
            params = {**params, "page_token": token}

    # ---- the choke-point ------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       json_body: dict[str, Any] | None = None, chat_id: str = "", log_chat_id: str = "",
                       message_id: str = "", auth: bool = True) -> dict[str, Any]:
        """One Open API call with token, limits, retries; returns the decoded body of a success.

        `chat_id` puts the call under that chat's send limit, `message_id` under that message's
        update limit; `log_chat_id` only names the chat in logs.
        """
        content = json.dumps(json_body, ensure_ascii=False).encode("utf-8") if json_body is not None else None
        backoff = Backoff(first=self._backoff, cap=MAX_BACKOFF)
        rate_waits = 0
        token_refetched = False
        while True:
            token = ""
            headers = {"Content-Type": "application/json; charset=utf-8"} if content is not None else {}
            if auth:
                await self._app_limit.acquire()
                if chat_id:
                    await self._chat_limit.acquire(chat_id)
                if message_id:
                    await self._message_limit.acquire(message_id)
                token = await self._tokens.get()
                headers["Authorization"] = f"Bearer {token}"
            body, err = await self._send(method, path, params, content, headers)
            if err is None:
                return body
            if auth and err.code == TOKEN_INVALID and not token_refetched:
                token_refetched = True
                self._tokens.invalidate(token)
                log.info("lark %s %s: token rejected, fetching a new one (log_id=%s)", method, path, err.log_id)
                continue
            if isinstance(err, LarkRateLimited) and rate_waits < self._max_retries:
                rate_waits += 1
                await self._wait_rate_limit(err, chat_id, message_id)
                continue
            if isinstance(err, LarkServerError) and backoff.failures < self._max_retries:
                delay = backoff.delay()
                log.info("lark %s %s: %s (code=%s log_id=%s), retry %d in %.2fs", method, path,
                         err.msg, err.code, err.log_id, backoff.failures, delay)
                await asyncio.sleep(delay)
                continue
            log.warning("lark %s %s failed: code=%s http=%s msg=%r log_id=%s chat_id=%s", method, path,
                        err.code, err.http_status, err.msg, err.log_id, chat_id or log_chat_id or "-")
            raise err

    async def _send(self, method: str, path: str, params: dict[str, Any] | None, content: bytes | None,
                    headers: dict[str, str]) -> tuple[dict[str, Any], LarkAPIError | None]:
        try:
            resp = await self._http.request(method, path, params=params, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            return {}, LarkServerError(-1, f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return {}, LarkServerError(-1, f"connection failed ({type(exc).__name__}: {exc})")
        try:
            decoded = resp.json()
        except ValueError:
            decoded = None
        body = decoded if isinstance(decoded, dict) else None
        return body or {}, error_for(resp.status_code, body, resp.headers)

    async def _wait_rate_limit(self, err: LarkRateLimited, chat_id: str, message_id: str = "") -> None:
        # 230020 holds back only that message (an update) or that chat; anything else the whole app.
        if err.code == CHAT_FREQUENCY_LIMIT and message_id:
            self._message_limit.pause(message_id, err.retry_after)
        elif err.code == CHAT_FREQUENCY_LIMIT and chat_id:
            self._chat_limit.pause(chat_id, err.retry_after)
        elif err.code != CHAT_FREQUENCY_LIMIT:
            self._app_limit.pause(err.retry_after)
        log.info("lark rate limited (code=%s log_id=%s chat_id=%s), waiting %.2fs", err.code, err.log_id,
                 chat_id or "-", err.retry_after)
        await asyncio.sleep(err.retry_after)

    async def _fetch_token(self) -> tuple[str, float]:
        secret = self._app_secret.get_secret_value()
        if not self._app_id or not secret:
            raise LarkAuthError(-1, "app_id and app_secret are required ([frontend.lark_group])")
        try:
            body = await self._request("POST", TOKEN_PATH, auth=False,
                                       json_body={"app_id": self._app_id, "app_secret": secret})
        except (LarkAuthError, LarkServerError, LarkRateLimited):
            raise
        except LarkAPIError as exc:
            raise LarkAuthError(exc.code, f"tenant token refused: {exc.msg}", http_status=exc.http_status,
                                log_id=exc.log_id) from None
        token, expire = body.get("tenant_access_token"), body.get("expire")
        if not isinstance(token, str) or not token or not isinstance(expire, (int, float)) or expire <= 0:
            raise LarkAuthError(-1, "tenant token answer lacks tenant_access_token / expire")
        register_secret(token)
        return token, float(expire)


def _seg(value: str) -> str:
    if not value:
        raise ValueError("message_id must not be empty")
    return quote(value, safe="")


def _check_text(text: str, uuid: str) -> None:
    if not text.strip():
        raise ValueError("text must not be empty")
    if not uuid or len(uuid) > UUID_MAX:
        raise ValueError(f"uuid must be 1..{UUID_MAX} characters")
    if encoded_size(text) > TEXT_BODY_MAX - 1024:
        raise ValueError("text too long for one Lark message; split it with split_text()")


def _check_card(card: dict[str, Any], uuid: str | None) -> str:
    """The card's `content` string; ValueError (nothing sent) for what Lark would refuse anyway."""
    if not isinstance(card, dict) or not card:
        raise ValueError("card must be a non-empty JSON object")
    if uuid is not None and (not uuid or len(uuid) > UUID_MAX):
        raise ValueError(f"uuid must be 1..{UUID_MAX} characters")
    content = card_content(card)
    if len(json.dumps(content, ensure_ascii=False).encode("utf-8")) > CARD_BODY_MAX - 256:
        raise ValueError("card too large for one Lark message; build it with larkdou.lark.cards")
    return content


def _chat(item: dict[str, Any]) -> ChatInfo:
    return ChatInfo(chat_id=str(item.get("chat_id") or ""), name=str(item.get("name") or ""),
                    description=str(item.get("description") or ""), owner_id=str(item.get("owner_id") or ""),
                    owner_id_type=str(item.get("owner_id_type") or ""), chat_mode=str(item.get("chat_mode") or "group"),
                    chat_status=str(item.get("chat_status") or "normal"), external=item.get("external") is True,
                    tenant_key=str(item.get("tenant_key") or ""))


def _sent(body: dict[str, Any], chat_id: str) -> SentInfo:
    data = body.get("data") or {}
    message_id = data.get("message_id")
    if not message_id:
        raise LarkAPIError(-1, "send answer has no message_id")
    try:
        created = int(data.get("create_time") or 0)
    except (TypeError, ValueError):
        created = 0
    return SentInfo(message_id=str(message_id), chat_id=str(data.get("chat_id") or chat_id),
                    create_time_ms=created)
