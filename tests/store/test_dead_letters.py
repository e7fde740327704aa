"""Poison messages: delivered at most `max_attempts` times, then parked in the dead-letter list, which
can be listed, retried and dropped. Run against SQLite and Redis alike."""

from __future__ import annotations

import asyncio

from larkdou.store import Queue, open_queue
from tests.store.helpers import drain, enqueue_texts

EMPTY = {"recall": 0, "normal": 0, "leased": 0}


async def crash_loop(queue: Queue, times: int) -> list[int]:
    """Lease the next message `times` times and never ack it (a consumer that dies on it)."""
    attempts = []
    for _ in range(times):
        got = await queue.lease(0.1, wait=2)
        if got is None:
            break
        attempts.append(got.attempts)
        await asyncio.sleep(0.2)
    return attempts


async def test_a_message_is_delivered_at_most_max_attempts_times_then_parked(store_url: str) -> None:
    queue = await open_queue(store_url, max_attempts=3)
    try:
        await enqueue_texts(queue, "poison", "fine")
        poison = await queue.lease(0.1)
        assert poison and poison.message.content == "poison"
        fine = await queue.lease(30)
        assert fine and await queue.ack(fine.delivery_id)
        await asyncio.sleep(0.2)
        assert await crash_loop(queue, 5) == [2, 3]  # the 4th delivery never happens
        assert await queue.depth() == EMPTY
        assert await queue.dead_count() == 1
        [dead] = await queue.dead_letters()
        assert dead.message.content == "poison" and dead.attempts == 3 and dead.id.isdigit()
        assert dead.died_at_ms > 1_600_000_000_000
    finally:
        await queue.close()


async def test_the_attempt_count_survives_restarts_of_the_store(store_url: str) -> None:
    for expected in (1, 2):
        queue = await open_queue(store_url, max_attempts=2)
        if expected == 1:
            await enqueue_texts(queue, "crashes every consumer")
        got = await queue.lease(0.1, wait=2)
        assert got and got.attempts == expected
        await queue.close()
        await asyncio.sleep(0.2)
    queue = await open_queue(store_url, max_attempts=2)
    try:
        assert await queue.lease(30, wait=0.3) is None
        assert [d.message.content for d in await queue.dead_letters()] == ["crashes every consumer"]
    finally:
        await queue.close()


async def test_retry_puts_a_dead_letter_back_in_its_lane_with_fresh_attempts(store_url: str) -> None:
    queue = await open_queue(store_url, max_attempts=1)
    try:
        await enqueue_texts(queue, "豆哥撤回", "a", "b")
        await queue.lease_many(3, 0.1)
        await asyncio.sleep(0.2)
        assert await queue.dead_count() == 3
        await enqueue_texts(queue, "newer")
        dead = {d.message.content: d.id for d in await queue.dead_letters()}
        assert await queue.retry_dead([dead["b"], "999999", "nonsense"]) == [dead["b"]]
        assert await queue.retry_dead([dead["b"]]) == []  # already back
        got = await queue.lease_many(5, 30)
        # b keeps its place before the newer message; the recall command stays parked
        assert [(d.message.content, d.attempts) for d in got] == [("b", 1), ("newer", 1)]
        assert sorted(await queue.retry_dead(None)) == sorted([dead["豆哥撤回"], dead["a"]])
        assert await queue.dead_count() == 0
        assert await drain(queue) == ["豆哥撤回", "a"]
    finally:
        await queue.close()


async def test_drop_deletes_dead_letters_for_good(store_url: str) -> None:
    queue = await open_queue(store_url, max_attempts=1)
    try:
        await enqueue_texts(queue, "x", "y", "z")
        await queue.lease_many(3, 0.1)
        await asyncio.sleep(0.2)
        ids = [d.id for d in await queue.dead_letters()]
        assert await queue.drop_dead([ids[0]]) == [ids[0]]
        assert await queue.retry_dead([ids[0]]) == []
        assert [d.message.content for d in await queue.dead_letters()] == ["y", "z"]
        assert sorted(await queue.drop_dead(None)) == sorted(ids[1:])
        assert await queue.dead_letters() == [] and await queue.dead_count() == 0
        assert await queue.depth() == EMPTY and await drain(queue) == []
    finally:
        await queue.close()


async def test_an_acked_or_extended_message_never_dies(store_url: str) -> None:
    queue = await open_queue(store_url, max_attempts=1)
    try:
        await enqueue_texts(queue, "slow but fine")
        held = await queue.lease(0.2)
        assert held is not None
        for _ in range(3):
            await asyncio.sleep(0.1)
            assert await queue.extend([held.delivery_id], 0.2) == [True]
        assert await queue.dead_count() == 0
        assert await queue.ack(held.delivery_id)
        await asyncio.sleep(0.3)
        assert await queue.dead_count() == 0 and await queue.depth() == EMPTY
    finally:
        await queue.close()


async def test_dead_letter_list_is_shared_by_every_process_on_the_store(store_url: str) -> None:
    queue = await open_queue(store_url, max_attempts=1)
    other = await open_queue(store_url, max_attempts=1)
    try:
        await enqueue_texts(queue, "seen by both")
        await queue.lease(0.1)
        await asyncio.sleep(0.2)
        [dead] = await other.dead_letters()
        waiting = asyncio.create_task(queue.lease(30, wait=10))
        await asyncio.sleep(0.1)
        assert await other.retry_dead([dead.id]) == [dead.id]
        back = await asyncio.wait_for(waiting, 10)  # a waiting consumer is woken by the retry
        assert back and back.message.content == "seen by both" and back.attempts == 1
    finally:
        await queue.close()
        await other.close()
