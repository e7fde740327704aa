"""A store that is down when an event arrives: the ack is 500, Lark delivers again, nothing is lost."""

from __future__ import annotations

from larkdou.store import open_queue
from tests.longconn.conftest import eventually, open_longconn, open_sandbox


async def test_store_down_means_ack_500_and_the_redelivered_event_is_queued_once(settings, own_redis):
    queue = await open_queue(f"{own_redis.url}/0")
    try:
        async with open_sandbox(settings) as sandbox, open_longconn(settings, queue) as conn:
            await sandbox.tune(retry_scale=0.1)  # Lark's first retry after 15 s comes after 1.5 s here
            own_redis.stop()
            msg_id = await sandbox.say("oc_chat1", "存储挂了时的问题？")
            first = await eventually(lambda: sandbox.deliveries(msg_id))
            assert first[0]["status"] == 500  # the client's ack said the handler failed
            own_redis.start()
            await eventually(lambda: _acked(sandbox, msg_id))
            got = await queue.lease(30, wait=1)
            assert got is not None and got.message.msg_id == msg_id
            await queue.ack(got.delivery_id)
            assert await queue.lease(30, wait=0.3) is None  # exactly once
            assert conn.metrics.events.labels("store_error")._value.get() >= 1
            assert conn.connected  # a store failure does not cost the connection
    finally:
        await queue.close()


async def _acked(sandbox, msg_id: str) -> bool:  # type: ignore[no-untyped-def]
    return any(d["status"] == 200 for d in await sandbox.deliveries(msg_id))
