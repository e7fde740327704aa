"""Concurrent calls joined into batches: one request in flight, the calls made meanwhile ride the next.

A lone call is sent at once (no timer, no added latency); under load, every call that arrives while a
request is in flight is sent together in the following one. Used for acks: many chats finishing at
the same time cost one `/ack` round trip instead of one each.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Awaitable, Callable, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """`await submit(item)` gives the result `send(batch)` returned for that item (same order)."""

    def __init__(self, send: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 1000) -> None:
        self._send = send
        self._max = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="coalesced-send")
        # the send goes on when the caller stops waiting: its item is in a batch already
        return await asyncio.shield(future)

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:self._max], self._pending[self._max:]
            try:
                results = await self._send([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - handed to each caller
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)

    async def aclose(self) -> None:
        """Stop sending; calls still waiting are cancelled."""
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
