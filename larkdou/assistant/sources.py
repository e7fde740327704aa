"""Where the assistant gets its messages: a gateway over HTTP (`/fetch` + `/ack`) or the local queue.

Both give `Delivery` objects and take acks by delivery id. A message is acked only after it has been
fully handled, so a crash means redelivery (after the gateway's lease), never loss.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from larkdou.backoff import Backoff
from larkdou.config import Settings
from larkdou.errors import StoreError
from larkdou.message import Message
from larkdou.store.base import Delivery, Queue

log = logging.getLogger(__name__)


class Source(Protocol):
    async def next(self, *, recall_only: bool = False, wait: float | None = None) -> Delivery | None:
        """The next message (only a recall command with `recall_only`), or None when none arrived
        within the long-poll wait (`wait`, default the source's)."""
        ...

    async def ack(self, delivery_id: str) -> bool: ...

    async def aclose(self) -> None: ...


def ack_url_for(fetch_url: str) -> str:
    """`…/fetch` → `…/ack` (the gateway serves both under one prefix)."""
    base = fetch_url.split("?", 1)[0].rstrip("/")
    if base.endswith("/fetch"):
        base = base[: -len("/fetch")]
    return base + "/ack"


class HttpSource:
    """Long-polls a gateway's `/fetch` and acks on `/ack`. A gateway that is down, slow or answering
    errors is retried with backoff; `next()` never raises for that, it keeps trying."""

    def __init__(self, settings: Settings, *, wait: float | None = None, lease: float | None = None,
                 client: httpx.AsyncClient | None = None):
        self.fetch_url = settings.frontend.webhook_url.split("?", 1)[0]
        self.ack_url = ack_url_for(self.fetch_url)
        self.wait = settings.assistant.fetch_wait if wait is None else wait
        self.lease = lease
        token = settings.secret(settings.gateway.fetch_token)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=self.wait + 10.0))
        self._owns_http = client is None
        self._backoff = Backoff()

    async def next(self, *, recall_only: bool = False, wait: float | None = None) -> Delivery | None:
        params: dict[str, float | str] = {"wait": self.wait if wait is None else wait}
        if self.lease is not None:
            params["lease"] = self.lease
        if recall_only:
            params["lane"] = "recall"
        while True:
            try:
                resp = await self._http.post(self.fetch_url, params=params, headers=self._headers)
                if resp.status_code == 200:
                    data = resp.json()
                    self._backoff.reset()
                    return _delivery(data) if data else None
                self._log_refusal(resp)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("gateway fetch failed (%s: %s); retrying", type(exc).__name__, exc)
            await self._backoff.sleep()

    async def ack(self, delivery_id: str) -> bool:
        """Acks until the gateway answers; False when the lease had already run out."""
        backoff = Backoff(cap=5.0)
        while True:
            try:
                resp = await self._http.post(self.ack_url, json={"delivery_id": delivery_id},
                                             headers=self._headers)
                if resp.status_code == 200:
                    return bool(resp.json().get("acked"))
                self._log_refusal(resp)
                if 400 <= resp.status_code < 500 and resp.status_code not in (401, 403, 429):
                    return False
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("gateway ack failed (%s: %s); retrying", type(exc).__name__, exc)
            await backoff.sleep()

    def _log_refusal(self, resp: httpx.Response) -> None:
        if resp.status_code in (401, 403):
            log.error("gateway refused the fetch token (HTTP %s): check [gateway] fetch_token", resp.status_code)
        else:
            log.warning("gateway answered HTTP %s: %s", resp.status_code, resp.text[:200])

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def _delivery(data: dict) -> Delivery:
    delivery_id = str(data.get("delivery_id") or "")
    return Delivery(delivery_id=delivery_id, message=Message.from_dict(data), attempts=int(data.get("attempts") or 1))


class QueueSource:
    """Reads the local queue directly (`--standalone`). Store failures are retried with backoff."""

    def __init__(self, queue: Queue, *, wait: float, lease: float):
        self.queue, self.wait, self.lease = queue, wait, lease
        self._backoff = Backoff()

    async def next(self, *, recall_only: bool = False, wait: float | None = None) -> Delivery | None:
        while True:
            try:
                delivery = await self.queue.lease(self.lease, wait=self.wait if wait is None else wait,
                                                  recall_only=recall_only)
                self._backoff.reset()
                return delivery
            except StoreError as exc:
                log.warning("queue lease failed (%s); retrying", exc)
                await self._backoff.sleep()

    async def ack(self, delivery_id: str) -> bool:
        backoff = Backoff(cap=5.0)
        while True:
            try:
                return await self.queue.ack(delivery_id)
            except StoreError as exc:
                log.warning("queue ack failed (%s); retrying", exc)
                await backoff.sleep()

    async def aclose(self) -> None:
        """The queue belongs to whoever opened it."""
