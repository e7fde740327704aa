"""The tenant access token, cached and shared: fetched lazily, once for all concurrent callers,
renewed before it expires, forgotten when Lark rejects it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Awaitable, Callable

TOKEN_MARGIN = 300.0  # refetch this long before the token expires (Lark issues a new one < 30 min)


class TokenCache:
    """The tenant token, fetched lazily; concurrent callers share one fetch.

    Cached until `expire - margin`, where the margin is `TOKEN_MARGIN` or a tenth of the lifetime,
    whichever is shorter (short-lived sandbox tokens).
    """

    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], *,
                 clock: Callable[[], float] = time.monotonic):
        self._fetch = fetch
        self._clock = clock
        self._token = ""
        self._good_until = 0.0
        self._pending: asyncio.Future[str] | None = None
        self.fetches = 0

    async def get(self) -> str:
        """A valid token, fetching one if needed."""
        if self._token and self._clock() < self._good_until:
            return self._token
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._refresh())
            self._pending.add_done_callback(_retrieve)
        # shield: one caller being cancelled must not cancel the fetch the others wait for
        return await asyncio.shield(self._pending)

    def invalidate(self, token: str) -> None:
        """Forget `token` (Lark rejected it); a newer token fetched meanwhile is kept."""
        if token == self._token:
            self._token = ""

    async def aclose(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(BaseException):
                await self._pending

    async def _refresh(self) -> str:
        try:
            self.fetches += 1
            token, ttl = await self._fetch()
            self._token = token
            self._good_until = self._clock() + ttl - min(TOKEN_MARGIN, ttl / 10)
            return token
        finally:
            self._pending = None


def _retrieve(fut: asyncio.Future[str]) -> None:
    if not fut.cancelled():
        fut.exception()  # marks it retrieved when every waiter was cancelled
