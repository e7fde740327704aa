"""Where the assistant gets its messages: a gateway over HTTP (`/fetch`, `/ack`, `/extend`) or the local
queue.

Both give `Delivery` objects, take acks by delivery id and extend leases. A message is acked only after
it has been fully handled, so a crash means redelivery (after the lease), never loss. When the caller
has room for several messages (`next(room=N)`) a source leases up to N in one call and hands them out
one by one from a small buffer; a crash loses only the buffer's leases, which run out and come back.
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Protocol, Sequence

import httpx

from larkdou.assistant.coalesce import Coalescer
from larkdou.assistant.wire import MalformedAnswer, read_fetch_answer
from larkdou.backoff import Backoff
from larkdou.config import Settings
from larkdou.errors import StoreError
from larkdou.store.base import Delivery, Queue
from larkdou.store.common import lease_for_caller

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # the gateway's limit for ?max=N and for ids per /ack or /extend


class Source(Protocol):
    lease_seconds: float  # how long a fetched message stays leased unless extended

    async def next(self, *, recall_only: bool = False, wait: float | None = None,
                   room: int = 1) -> Delivery | None:
        """The next message (only a recall command with `recall_only`), or None when none arrived
        within the long-poll wait (`wait`, default the source's). `room`: how many messages the caller
        could take now; the source may lease that many at once and keep the rest for the next calls."""
        ...

    async def ack(self, delivery_id: str) -> bool: ...

    async def extend(self, delivery_ids: Sequence[str], seconds: float) -> list[bool]:
        """Keep these leases for `seconds` more; one bool per id (False: that lease was lost)."""
        ...

    async def aclose(self) -> None: ...


class _Buffered:
    """`next()` over a batch-leasing `_take`: leases up to `room` messages, hands them out in order."""

    def __init__(self) -> None:
        self._buffer: collections.deque[Delivery] = collections.deque()

    async def _take(self, n: int, recall_only: bool, wait: float | None) -> list[Delivery]:
        raise NotImplementedError

    async def next(self, *, recall_only: bool = False, wait: float | None = None,
                   room: int = 1) -> Delivery | None:
        if recall_only:
            for held in self._buffer:
                if held.message.is_recall:
                    self._buffer.remove(held)
                    return held
        elif self._buffer:
            return self._buffer.popleft()
        got = await self._take(1 if recall_only else max(1, min(room, MAX_BATCH)), recall_only, wait)
        if not got:
            return None
        self._buffer.extend(got[1:])
        return got[0]


def ack_url_for(fetch_url: str, name: str = "ack") -> str:
    """`…/fetch` → `…/ack` (or `…/extend`): the gateway serves them under one prefix."""
    base = fetch_url.split("?", 1)[0].rstrip("/")
    if base.endswith("/fetch"):
        base = base[: -len("/fetch")]
    return f"{base}/{name}"


class HttpSource(_Buffered):
    """Long-polls a gateway's `/fetch` and acks on `/ack`. A gateway that is down, slow, answering
    errors or answering garbage is retried with backoff; `next()` never raises for that, it keeps
    trying. Concurrent acks are sent together (see `Coalescer`)."""

    def __init__(self, settings: Settings, *, wait: float | None = None, lease: float | None = None,
                 client: httpx.AsyncClient | None = None):
        super().__init__()
        self.fetch_url = settings.frontend.webhook_url.split("?", 1)[0]
        self.ack_url = ack_url_for(self.fetch_url)
        self.extend_url = ack_url_for(self.fetch_url, "extend")
        self.wait = settings.assistant.fetch_wait if wait is None else wait
        self.lease_seconds = settings.gateway.lease_seconds if lease is None else lease
        token = settings.secret(settings.gateway.fetch_token)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=self.wait + 10.0))
        self._owns_http = client is None
        self._backoff = Backoff()
        self._acks: Coalescer[str, bool] = Coalescer(self._ack_batch, max_batch=MAX_BATCH)

    async def _take(self, n: int, recall_only: bool, wait: float | None) -> list[Delivery]:
        params: dict[str, float | str | int] = {"wait": self.wait if wait is None else wait,
                                                "lease": self.lease_seconds}
        if recall_only:
            params["lane"] = "recall"
        if n > 1:
            params["max"] = n
        while True:
            try:
                resp = await self._http.post(self.fetch_url, params=params, headers=self._headers)
                if resp.status_code == 200:
                    answer = read_fetch_answer(resp.json())
                    if answer.rejected:
                        log.warning("gateway sent %d message(s) that cannot be read, left to their lease "
                                    "(parked after [gateway] max_attempts deliveries): %s",
                                    len(answer.rejected), "; ".join(answer.rejected))
                    if answer.deliveries or not answer.rejected:
                        self._backoff.reset()
                        return answer.deliveries
                else:
                    self._log_refusal(resp)
            except MalformedAnswer as exc:
                log.warning("gateway answered /fetch with something unreadable (%s); retrying", exc)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("gateway fetch failed (%s: %s); retrying", type(exc).__name__, exc)
            await self._backoff.sleep()

    async def ack(self, delivery_id: str) -> bool:
        """Acks until the gateway answers; False when the lease had already run out."""
        return await self._acks.submit(delivery_id)

    async def _ack_batch(self, ids: list[str]) -> list[bool]:
        body: dict[str, Any] = {"delivery_id": ids[0]} if len(ids) == 1 else {"delivery_ids": ids}
        backoff = Backoff(cap=5.0)
        while True:
            try:
                resp = await self._http.post(self.ack_url, json=body, headers=self._headers)
                if resp.status_code == 200:
                    return _per_id(resp.json().get("acked"), len(ids))
                self._log_refusal(resp)
                if 400 <= resp.status_code < 500 and resp.status_code not in (401, 403, 429):
                    return [False] * len(ids)
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                log.warning("gateway ack failed (%s: %s); retrying", type(exc).__name__, exc)
            await backoff.sleep()

    async def extend(self, delivery_ids: Sequence[str], seconds: float) -> list[bool]:
        """One try per batch of ids (the next heartbeat tries again); False for any it could not keep."""
        out: list[bool] = []
        for start in range(0, len(delivery_ids), MAX_BATCH):
            ids = list(delivery_ids[start:start + MAX_BATCH])
            try:
                resp = await self._http.post(self.extend_url, json={"delivery_ids": ids, "seconds": seconds},
                                             headers=self._headers)
                if resp.status_code != 200:
                    self._log_refusal(resp)
                    out += [False] * len(ids)
                    continue
                out += _per_id(resp.json().get("extended"), len(ids))
            except (httpx.HTTPError, ValueError, AttributeError) as exc:
                log.warning("gateway lease extension failed (%s: %s)", type(exc).__name__, exc)
                out += [False] * len(ids)
        return out

    def _log_refusal(self, resp: httpx.Response) -> None:
        if resp.status_code in (401, 403):
            log.error("gateway refused the fetch token (HTTP %s): check [gateway] fetch_token", resp.status_code)
        else:
            log.warning("gateway answered HTTP %s: %s", resp.status_code, resp.text[:200])

    async def aclose(self) -> None:
        await self._acks.aclose()
        if self._owns_http:
            await self._http.aclose()


def _per_id(value: Any, n: int) -> list[bool]:
    """The gateway's per-id answer (a bool for one id, a list for several); ValueError when it is not."""
    if n == 1 and isinstance(value, bool):
        return [value]
    if isinstance(value, list) and len(value) == n and all(isinstance(v, bool) for v in value):
        return value
    raise ValueError(f"expected {n} true/false answer(s), got {str(value)[:80]}")


class QueueSource(_Buffered):
    """Reads the local queue directly (`--standalone`). Store failures are retried with backoff."""

    def __init__(self, queue: Queue, *, wait: float, lease: float):
        super().__init__()
        self.queue, self.wait, self.lease_seconds = queue, wait, lease
        self._backoff = Backoff()

    async def _take(self, n: int, recall_only: bool, wait: float | None) -> list[Delivery]:
        while True:
            try:
                # a stopping worker cancels this: what was leased in that instant goes straight back
                got = await lease_for_caller(self.queue, n, self.lease_seconds, self.wait if wait is None else wait,
                                             recall_only=recall_only)
                self._backoff.reset()
                return got
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

    async def extend(self, delivery_ids: Sequence[str], seconds: float) -> list[bool]:
        try:
            return await self.queue.extend(delivery_ids, seconds)
        except StoreError as exc:
            log.warning("queue lease extension failed (%s)", exc)
            return [False] * len(delivery_ids)

    async def aclose(self) -> None:
        """The queue belongs to whoever opened it."""
