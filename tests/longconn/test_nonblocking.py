"""An event whose store is slow must not hold up the long connection: pings and other events go on
meanwhile. And the SDK internals the long connection relies on are there."""

from __future__ import annotations

import asyncio
import types
from typing import Any

from larkdou.gateway.ingest import Ingestor
from larkdou.lark.client import LarkApp
from larkdou.lark.longconn import LongConnection
from larkdou.lark.longconn_sdk import sdk_problems
from larkdou.store import open_queue
from larkdou.store.base import Queue
from tests.longconn.conftest import LcSandbox, eventually, open_sandbox

SLOW_CHAT, OTHER_CHAT = "oc_slow_store", "oc_other"


class StallingIngest:
    """The gateway's ingest, except that events of one chat wait until `release` is set: a store
    that stalls on one write while the others go through."""

    def __init__(self, ingestor: Ingestor, chat_id: str):
        self.ingestor, self.chat_id = ingestor, chat_id
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, payload: dict[str, Any]) -> str:
        if payload.get("event", {}).get("message", {}).get("chat_id") == self.chat_id:
            self.stalled.set()
            await self.release.wait()
        return await self.ingestor.ingest(payload)


async def stored(queue: Queue, msg_id: str) -> bool:
    delivery = await queue.lease(30, wait=0.1)
    if delivery is None:
        return False
    await queue.ack(delivery.delivery_id)
    return delivery.message.msg_id == msg_id


async def pings(sandbox: LcSandbox) -> int:
    [client] = await sandbox.clients()
    return client["pings"]


async def test_while_one_event_is_being_stored_pings_and_other_events_go_on(settings, tmp_path):
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    ingest = StallingIngest(Ingestor(settings, queue), SLOW_CHAT)
    conn = LongConnection(LarkApp.from_settings(settings), ingest, ingest_timeout=30)
    try:
        async with open_sandbox(settings) as sandbox:
            await sandbox.tune(retry_scale=0.1)
            await sandbox.longconn(ping_interval=1)
            conn.start()
            await eventually(lambda: _true(conn.connected))
            slow = await sandbox.say(SLOW_CHAT, "存储很慢时的问题")
            await asyncio.wait_for(ingest.stalled.wait(), 10)

            before = await pings(sandbox)
            fast = await sandbox.say(OTHER_CHAT, "同时另一个群的问题")
            await eventually(lambda: stored(queue, fast), timeout=2.5)  # while the first is still stalled
            await eventually(lambda: _more(pings(sandbox), before), timeout=2.5)  # heartbeats go on
            assert not ingest.release.is_set() and conn.connected

            ingest.release.set()
            await eventually(lambda: stored(queue, slow))  # stored once the store comes back
            await eventually(lambda: _acked(sandbox, slow))
            assert conn.status()["disconnects"] == 0
    finally:
        await conn.aclose()
        await queue.close()


def test_the_sdk_internals_the_long_connection_relies_on_are_there():
    from lark_oapi.ws import client as ws_client

    assert sdk_problems(ws_client) == [], "lark-oapi changed under the long connection"


def test_a_missing_sdk_internal_is_named():
    from lark_oapi.ws import client as ws_client

    changed = types.SimpleNamespace(**{k: getattr(ws_client, k) for k in dir(ws_client) if k != "_get_by_key"})
    changed.Client = type("Client", (ws_client.Client,), {"_handle_data_frame": lambda self, frame, extra: None})
    problems = sdk_problems(changed)
    assert "_get_by_key: missing" in problems
    assert any(p.startswith("Client._handle_data_frame: parameters changed") for p in problems)


async def _acked(sandbox: LcSandbox, msg_id: str) -> bool:
    return any(d["status"] == 200 for d in await sandbox.deliveries(msg_id))


async def _more(count, than: int) -> bool:  # type: ignore[no-untyped-def]
    return await count > than


async def _true(value: bool) -> bool:
    return value
