"""Event push: each user message becomes an `im.message.receive_v1` event (schema 2.0, reference §3),
encrypted and signed as Lark does (§1.3, §1.4) and POSTed to the callback URL.

Delivery follows §2: a push that gets no HTTP 200 within 3 s is sent again after 15 s, 5 min, 1 h and
6 h (each times `retry_scale`), with the same event_id, at most 4 retries. First attempts in one chat
go out in the order the messages were posted; retries run on their own schedule, so a receiver sees
duplicates and reordering the way it would from Lark.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from larkdou.lark.crypto import encrypt, signature
from larkdou.sandbox.longconn import LongConnHub
from larkdou.sandbox.state import SandboxState, StoredMessage

log = logging.getLogger(__name__)

RETRY_DELAYS = (15.0, 300.0, 3600.0, 21600.0)
ANSWER_WITHIN = 3.0  # seconds Lark waits for the 200
CHALLENGE_WITHIN = 1.0
LOG_LIMIT = 10_000
USER_AGENT = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Lark/7.30.0 larkdou-sandbox"


@dataclass
class Delivery:
    event_id: str
    message_id: str
    chat_id: str
    attempt: int  # 0 = first push, 1..4 = retries
    url: str
    status: int | None  # HTTP status, None when there was no answer
    error: str  # "", "timeout", or the transport failure
    time: float  # epoch seconds


class Pusher:
    """Owns the push tasks and the delivery log; `start`/`close` bracket its HTTP client."""

    def __init__(self, state: SandboxState, hub: LongConnHub | None = None):
        self.state = state
        self.hub = hub  # while a long-connection client is connected, events go there instead
        self.deliveries: list[Delivery] = []
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._chat_order: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        self._client = httpx.AsyncClient(headers={"User-Agent": "Go-http-client/1.1"})

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    @property
    def pending(self) -> int:
        """Events still being delivered or waiting for a retry."""
        return len(self._tasks)

    def push(self, msg: StoredMessage) -> str:
        """Schedule delivery of a user message; returns its event_id at once."""
        event_id = secrets.token_hex(16)
        event = self.event_for(msg, event_id)
        lock = self._chat_order.setdefault(msg.chat.chat_id, asyncio.Lock())
        task = asyncio.create_task(self._deliver(event, msg, lock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return event_id

    def event_for(self, msg: StoredMessage, event_id: str) -> dict[str, Any]:
        state = self.state
        message: dict[str, Any] = {
            "message_id": msg.message_id, "create_time": msg.create_ms, "update_time": msg.create_ms,
            "chat_id": msg.chat.chat_id, "chat_type": msg.chat.chat_type, "message_type": msg.msg_type,
            "content": msg.content, "user_agent": USER_AGENT,
        }
        if msg.root_id:
            message.update(root_id=msg.root_id, parent_id=msg.parent_id)
        if msg.thread_id:
            message["thread_id"] = msg.thread_id
        if msg.mentions:
            message["mentions"] = msg.mentions
        return {
            "schema": "2.0",
            "header": {"event_id": event_id, "event_type": "im.message.receive_v1",
                       "create_time": str(int(time.time() * 1000)), "token": state.creds.verification_token,
                       "app_id": state.creds.app_id, "tenant_key": state.tenant_key},
            "event": {"sender": {"sender_id": msg.sender.ids(), "sender_type": "user",
                                 "tenant_key": state.tenant_key},
                      "message": message},
        }

    def envelope(self, payload: dict[str, Any], *, signed: bool = True) -> tuple[bytes, dict[str, str]]:
        """The request body and headers Lark would send for `payload`."""
        key = self.state.creds.encrypt_key
        plain = json.dumps(payload, ensure_ascii=False)
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Request-Id": secrets.token_hex(16)}
        if not key:
            return plain.encode("utf-8"), headers
        body = json.dumps({"encrypt": encrypt(key, plain)}).encode("utf-8")
        if signed:
            ts, nonce = str(int(time.time())), secrets.token_hex(8)
            headers.update({"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                            "X-Lark-Signature": signature(ts, nonce, key, body)})
        return body, headers

    async def _deliver(self, event: dict[str, Any], msg: StoredMessage, lock: asyncio.Lock) -> None:
        async with lock:
            if await self._attempt(event, msg, 0):
                return
        for attempt, delay in enumerate(RETRY_DELAYS, start=1):
            await asyncio.sleep(delay * self.state.tunables.retry_scale)
            if await self._attempt(event, msg, attempt):
                return
        log.warning("event_id=%s message_id=%s: given up after %d retries",
                    event["header"]["event_id"], msg.message_id, len(RETRY_DELAYS))

    async def _attempt(self, event: dict[str, Any], msg: StoredMessage, attempt: int) -> bool:
        assert self._client is not None, "Pusher.start() was not awaited"
        if self.hub is not None and self.hub.connected:
            ack = await self.hub.deliver(event)
            url, status, error = f"longconn:{ack.conn_id}", ack.status, ack.error
        else:
            url = self.state.tunables.callback
            status, error = await self._post(url, event)
        self._record(Delivery(event["header"]["event_id"], msg.message_id, msg.chat.chat_id, attempt, url,
                              status, error, time.time()))
        log.info("push event_id=%s message_id=%s chat_id=%s attempt=%d -> %s",
                 event["header"]["event_id"], msg.message_id, msg.chat.chat_id, attempt, status or error)
        return status == 200

    async def _post(self, url: str, event: dict[str, Any]) -> tuple[int | None, str]:
        assert self._client is not None, "Pusher.start() was not awaited"
        body, headers = self.envelope(event)
        try:
            resp = await self._client.post(url, content=body, headers=headers, timeout=ANSWER_WITHIN)
        except httpx.TimeoutException:
            return None, "timeout"
        except httpx.HTTPError as exc:
            return None, type(exc).__name__
        return resp.status_code, ""

    def _record(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        del self.deliveries[:-LOG_LIMIT]

    def log_view(self, message_id: str = "", event_id: str = "") -> list[dict[str, Any]]:
        return [asdict(d) for d in self.deliveries
                if (not message_id or d.message_id == message_id) and (not event_id or d.event_id == event_id)]

    async def challenge(self) -> dict[str, Any]:
        """Send the URL verification the way Lark's console does; report whether the answer was right."""
        assert self._client is not None, "Pusher.start() was not awaited"
        url = self.state.tunables.callback
        challenge = secrets.token_urlsafe(16)
        body, headers = self.envelope({"challenge": challenge, "token": self.state.creds.verification_token,
                                       "type": "url_verification"}, signed=False)
        try:
            resp = await self._client.post(url, content=body, headers=headers, timeout=CHALLENGE_WITHIN)
        except httpx.TimeoutException:
            return {"ok": False, "url": url, "status": None, "answer": "", "error": "no answer within 1 s"}
        except httpx.HTTPError as exc:
            return {"ok": False, "url": url, "status": None, "answer": "", "error": type(exc).__name__}
        try:
            answered = resp.json().get("challenge")
        except (ValueError, AttributeError):
            answered = None
        ok = resp.status_code == 200 and answered == challenge
        error = "" if ok else "the answer must be HTTP 200 with {\"challenge\": <the same string>}"
        return {"ok": ok, "url": url, "status": resp.status_code, "answer": resp.text[:500], "error": error}
