"""Batch leases and acks, and lease extension, run against SQLite and Redis alike."""

from __future__ import annotations

import asyncio

from larkdou.store import Queue, open_queue
from tests.store.helpers import drain, enqueue_texts

EMPTY = {"recall": 0, "normal": 0, "leased": 0}


async def test_lease_many_takes_the_recall_lane_first_then_the_oldest(queue: Queue) -> None:
    await enqueue_texts(queue, "1", "2", "3", "豆哥撤回", "4")
    got = await queue.lease_many(3, 30)
    assert [d.message.content for d in got] == ["豆哥撤回", "1", "2"]
    assert len({d.delivery_id for d in got}) == 3 and all(d.attempts == 1 for d in got)
    rest = await queue.lease_many(10, 30)
    assert [d.message.content for d in rest] == ["3", "4"]
    assert await queue.depth() == {**EMPTY, "leased": 5}
    assert await queue.lease_many(10, 30) == []


async def test_lease_many_recall_only_leaves_the_normal_lane(queue: Queue) -> None:
    await enqueue_texts(queue, "1", "豆哥撤回", "2")
    got = await queue.lease_many(5, 30, recall_only=True)
    assert [d.message.content for d in got] == ["豆哥撤回"]
    assert await queue.depth() == {"recall": 0, "normal": 2, "leased": 1}


async def test_ack_many_answers_per_id_and_removes_only_live_leases(queue: Queue) -> None:
    await enqueue_texts(queue, "a", "b", "c")
    a, b, c = await queue.lease_many(3, 30)
    assert await queue.ack_many([a.delivery_id, "nonsense", c.delivery_id, a.delivery_id]) == [True, False, True, False]
    assert await queue.depth() == {**EMPTY, "leased": 1}
    assert await queue.ack_many([]) == []
    assert await queue.ack(b.delivery_id) is True
    assert await queue.depth() == EMPTY


async def test_a_batch_whose_lease_ran_out_comes_back_in_order(queue: Queue) -> None:
    await enqueue_texts(queue, "1", "2", "3")
    first = await queue.lease_many(3, 0.2)
    await asyncio.sleep(0.4)
    assert await queue.ack_many([d.delivery_id for d in first]) == [False, False, False]
    again = await queue.lease_many(3, 30)
    assert [(d.message.content, d.attempts) for d in again] == [("1", 2), ("2", 2), ("3", 2)]


async def test_long_poll_of_a_batch_returns_what_arrives(store_url: str, queue: Queue) -> None:
    waiting = asyncio.create_task(queue.lease_many(10, 30, wait=20))
    await asyncio.sleep(0.1)
    other = await open_queue(store_url)
    try:
        await enqueue_texts(other, "wake up")
    finally:
        await other.close()
    got = await asyncio.wait_for(waiting, 10)
    assert [d.message.content for d in got] == ["wake up"]
    assert await queue.lease_many(10, 30, wait=0.2) == []


async def test_an_extended_lease_is_not_delivered_again(queue: Queue) -> None:
    await enqueue_texts(queue, "long answer", "other")
    held, other = await queue.lease_many(2, 0.5)
    for _ in range(4):  # well past the first lease
        await asyncio.sleep(0.25)
        assert await queue.extend([held.delivery_id], 0.5) == [True]
    back = await queue.lease_many(10, 30)  # only the one that was not extended comes back
    assert [(d.message.content, d.attempts) for d in back] == [("other", 2)]
    assert await queue.ack_many([held.delivery_id, back[0].delivery_id, other.delivery_id]) == [True, True, False]
    assert await queue.depth() == EMPTY


async def test_extend_refuses_leases_that_ran_out_or_are_unknown(queue: Queue) -> None:
    await enqueue_texts(queue, "a", "b")
    a, b = await queue.lease_many(2, 0.2)
    assert await queue.extend([a.delivery_id], 30) == [True]
    await asyncio.sleep(0.4)
    assert await queue.extend([a.delivery_id, b.delivery_id, "1.0123456789abcdef", "junk"], 30) == [
        True, False, False, False]
    again = await queue.lease(30)
    assert again and again.message.content == "b" and again.attempts == 2
    assert await queue.ack(b.delivery_id) is False


async def test_an_extension_survives_reopening_the_store(store_url: str) -> None:
    q = await open_queue(store_url)
    await enqueue_texts(q, "kept")
    held = await q.lease(0.2)
    assert held and await q.extend([held.delivery_id], 30) == [True]
    await q.close()
    await asyncio.sleep(0.4)
    q = await open_queue(store_url)
    try:
        assert await q.depth() == {**EMPTY, "leased": 1}
        assert await q.ack(held.delivery_id) is True
    finally:
        await q.close()


async def test_two_consumers_leasing_batches_never_share_a_message(store_url: str, queue: Queue) -> None:
    await enqueue_texts(queue, *[f"m{i}" for i in range(300)])
    second = await open_queue(store_url)
    try:
        async def consume(q: Queue) -> list[str]:
            got: list[str] = []
            while batch := await q.lease_many(7, 30):
                got += [d.message.content for d in batch]
                assert await q.ack_many([d.delivery_id for d in batch]) == [True] * len(batch)
            return got

        a, b = await asyncio.gather(consume(queue), consume(second))
    finally:
        await second.close()
    assert not set(a) & set(b) and len(a) + len(b) == 300
    assert await drain(queue) == []
