"""Store fixtures: every test gets a queue or ledger on each backend (via `store_url`)."""

from __future__ import annotations

import itertools
from typing import AsyncIterator

import pytest

from larkdou.store import Ledger, Queue, open_ledger, open_queue

_databases = itertools.cycle(range(1, 64))


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A freshly emptied Redis database for one test.

    The store suite runs every test on Redis, so it reuses database numbers (each test empties its own
    first) instead of using up the session-wide ones the other suites draw from.
    """
    import redis as redis_sync

    url = f"{redis_server}/{next(_databases)}"
    client = redis_sync.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
async def queue(store_url: str) -> AsyncIterator[Queue]:
    q = await open_queue(store_url)
    yield q
    await q.close()


@pytest.fixture
async def ledger(store_url: str) -> AsyncIterator[Ledger]:
    led = await open_ledger(store_url)
    yield led
    await led.close()
