"""In-process wake-ups for long-polling consumers.

A consumer registers a waiter under a topic (a SQLite file path, a Redis channel) *before* it looks at
the store, then waits on it; whoever writes to that topic calls `notify`. Waiters may live on other
event loops or threads of the same process, so wake-ups go through `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Iterator

_lock = threading.Lock()
_waiters: dict[str, set["Waiter"]] = {}


class Waiter:
    """One registration; `wait(timeout)` returns early when the topic is notified."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._future: asyncio.Future[None] = loop.create_future()

    def _fire(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    def wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the waiter's loop is already closed
            self._loop.call_soon_threadsafe(self._fire)

    async def wait(self, timeout: float, abandoned: asyncio.Event | None = None) -> bool:
        """Wait until notified, `abandoned` is set or `timeout` seconds passed; True when notified."""
        if timeout <= 0 or self._future.done() or (abandoned is not None and abandoned.is_set()):
            return self._future.done()
        gone = asyncio.ensure_future(abandoned.wait()) if abandoned is not None else None
        try:
            await asyncio.wait([f for f in (self._future, gone) if f is not None], timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            if gone is not None:
                gone.cancel()
        return self._future.done()


@contextlib.contextmanager
def registered(topic: str) -> Iterator[Waiter]:
    """Register a fresh waiter on `topic` for the duration of the block."""
    waiter = Waiter(asyncio.get_running_loop())
    with _lock:
        _waiters.setdefault(topic, set()).add(waiter)
    try:
        yield waiter
    finally:
        with _lock:
            group = _waiters.get(topic)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del _waiters[topic]


def notify(topic: str) -> None:
    """Wake every waiter currently registered on `topic`."""
    with _lock:
        group = list(_waiters.get(topic, ()))
    for waiter in group:
        waiter.wake()
