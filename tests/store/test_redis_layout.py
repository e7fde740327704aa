"""Redis-only promises: namespaces keep deployments apart, and every key lives under its namespace."""

from __future__ import annotations

import redis as redis_sync

from larkdou.store import SentMessage, open_ledger, open_queue
from tests.store.helpers import drain, enqueue_texts, keys, msg


async def test_namespaces_share_nothing(redis_url: str) -> None:
    prod = await open_queue(redis_url, namespace="prod")
    staging = await open_queue(redis_url, namespace="staging")
    try:
        m = msg("same message in both")
        assert await prod.enqueue(m, keys(m))
        assert await staging.enqueue(m, keys(m))  # not a duplicate there
        await enqueue_texts(prod, "prod only")
        await staging.set_meta("bot_open_id", "ou_staging")
        assert await drain(staging) == ["same message in both"]
        assert await drain(prod) == ["same message in both", "prod only"]
        assert await prod.get_meta("bot_open_id") is None
    finally:
        await prod.close()
        await staging.close()


async def test_every_key_is_under_the_namespace_and_dedup_keys_expire(redis_url: str) -> None:
    queue = await open_queue(redis_url, namespace="team-a", dedup_ttl=3600)
    ledger = await open_ledger(redis_url, namespace="team-a")
    try:
        m = msg("hello")
        await queue.enqueue(m, keys(m))
        await queue.set_meta("k", "v")
        await ledger.record_sent(SentMessage("om_bot", "oc_1", "om_hello"))
        await ledger.set_recall_mark("oc_1", 5)
        delivery = await queue.lease(30, wait=0.1)
        assert delivery is not None
    finally:
        await queue.close()
        await ledger.close()

    client = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    try:
        names = client.keys("*")
        assert names and all(name.startswith("{team-a}:") for name in names)
        dedup = [name for name in names if "msg:om_hello" in name]
        assert len(dedup) == 1 and 0 < client.ttl(dedup[0]) <= 3600
    finally:
        client.close()
