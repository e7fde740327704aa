"""Store fixtures: every test gets a queue or ledger on each backend (via `store_url`)."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from larkdou.store import Ledger, Queue, open_ledger, open_queue


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
