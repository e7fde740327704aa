"""The queue contract, run against SQLite and Redis alike."""

from __future__ import annotations

import asyncio

from larkdou.message import Mention, Message
from larkdou.store import Queue, open_queue
from larkdou.store.common import lease_for_caller
from tests.store.helpers import drain, enqueue_texts, keys, msg

EMPTY = {"recall": 0, "normal": 0, "leased": 0}


async def test_same_message_twice_is_stored_once(queue: Queue) -> None:
    m = msg("how do I install it?")
    assert await queue.enqueue(m, keys(m)) is True
    assert await queue.enqueue(m, keys(m)) is False
    assert await drain(queue) == ["how do I install it?"]


async def test_either_dedup_key_marks_a_duplicate(queue: Queue) -> None:
    assert await queue.enqueue(msg("first"), ["msg:om_1", "evt:ev_1"])
    # a re-push with a new event id but the same message id, and the reverse
    assert not await queue.enqueue(msg("first"), ["msg:om_1", "evt:ev_2"])
    assert not await queue.enqueue(msg("first"), ["msg:om_9", "evt:ev_1"])
    assert await queue.depth() == {**EMPTY, "normal": 1}
    # a rejected duplicate does not claim its other key either
    assert await queue.enqueue(msg("second"), ["msg:om_9"])


async def test_dedup_survives_reopening_the_store(store_url: str) -> None:
    m = msg("asked before the restart")
    first = await open_queue(store_url)
    assert await first.enqueue(m, keys(m))
    await first.close()

    again = await open_queue(store_url)
    try:
        assert not await again.enqueue(m, keys(m))
        assert await drain(again) == ["asked before the restart"]
    finally:
        await again.close()


async def test_dedup_keys_expire_after_the_ttl(store_url: str) -> None:
    q = await open_queue(store_url, dedup_ttl=0.3)
    try:
        m = msg("hello")
        assert await q.enqueue(m, keys(m))
        assert not await q.enqueue(m, keys(m))
        await asyncio.sleep(0.5)
        assert await q.enqueue(m, keys(m))
        assert await drain(q) == ["hello", "hello"]
    finally:
        await q.close()


async def test_each_lane_is_first_in_first_out(queue: Queue) -> None:
    await enqueue_texts(queue, "a", "b", "c", "d", "e")
    assert await drain(queue) == ["a", "b", "c", "d", "e"]


async def test_recall_lane_is_leased_first(queue: Queue) -> None:
    await enqueue_texts(queue, "1", "2", "3", "豆哥撤回")
    assert await drain(queue) == ["豆哥撤回", "1", "2", "3"]


async def test_recall_only_lease_takes_recall_commands_and_leaves_the_rest(queue: Queue) -> None:
    await enqueue_texts(queue, "1", "豆哥撤回", "2")
    got = await queue.lease(30, recall_only=True)
    assert got is not None and got.message.content == "豆哥撤回"
    assert await queue.lease(30, wait=0.3, recall_only=True) is None
    assert await queue.depth() == {"recall": 0, "normal": 2, "leased": 1}
    await queue.ack(got.delivery_id)
    assert await drain(queue) == ["1", "2"]


async def test_a_message_comes_back_whole(queue: Queue) -> None:
    m = Message(msg_id="om_x", group_id="oc_x", content="@豆哥 怎么配置 \"webhook\"?\n第二行", user_id="ou_bob",
                msg_time=1_700_000_123_456, event_id="ev_x", chat_type="p2p",
                mentions=[Mention(key="@_user_1", name="豆哥", open_id="ou_bot")], mentioned_bot=True,
                root_id="om_root", sender_type="user", tenant_key="t1")
    assert await queue.enqueue(m, keys(m))
    delivery = await queue.lease(30)
    assert delivery is not None and delivery.message == m and delivery.attempts == 1


async def test_unacked_messages_come_back_in_order_after_the_lease(queue: Queue) -> None:
    await enqueue_texts(queue, "1", "2", "3")
    first = [await queue.lease(0.3) for _ in range(3)]
    await enqueue_texts(queue, "4")
    await asyncio.sleep(0.5)

    again = [await queue.lease(30) for _ in range(4)]
    assert [d.message.content for d in again if d] == ["1", "2", "3", "4"]
    assert [d.attempts for d in again if d] == [2, 2, 2, 1]
    assert {d.delivery_id for d in again if d}.isdisjoint({d.delivery_id for d in first if d})


async def test_a_redelivered_recall_still_goes_first(queue: Queue) -> None:
    await enqueue_texts(queue, "豆哥撤回")
    assert (await queue.lease(0.2)) is not None
    await enqueue_texts(queue, "1")
    await asyncio.sleep(0.4)
    assert await drain(queue) == ["豆哥撤回", "1"]


async def test_stale_ack_after_redelivery_changes_nothing(queue: Queue) -> None:
    await enqueue_texts(queue, "slow answer")
    stale = await queue.lease(0.2)
    await asyncio.sleep(0.4)
    fresh = await queue.lease(30)
    assert stale and fresh and fresh.message.content == "slow answer" and fresh.attempts == 2

    assert await queue.ack(stale.delivery_id) is False
    assert await queue.depth() == {**EMPTY, "leased": 1}
    assert await queue.ack(fresh.delivery_id) is True
    assert await queue.depth() == EMPTY


async def test_ack_after_the_lease_ran_out_is_refused_and_the_message_returns(queue: Queue) -> None:
    await enqueue_texts(queue, "late")
    late = await queue.lease(0.2)
    await asyncio.sleep(0.4)
    assert late and await queue.ack(late.delivery_id) is False
    again = await queue.lease(30)
    assert again and again.message.content == "late" and again.attempts == 2


async def test_unknown_or_malformed_delivery_ids_are_refused(queue: Queue) -> None:
    await enqueue_texts(queue, "x")
    live = await queue.lease(30)
    assert live is not None
    seq = live.delivery_id.split(".")[0]
    for bogus in ["", "nonsense", "1", f"{seq}.0000000000000000", f"{seq}.{'f' * 16}x", "99999.0123456789abcdef",
                  "-1.0123456789abcdef", "1" * 40 + ".0123456789abcdef"]:
        assert await queue.ack(bogus) is False
    assert await queue.depth() == {**EMPTY, "leased": 1}


async def test_ack_removes_for_good(store_url: str) -> None:
    q = await open_queue(store_url)
    await enqueue_texts(q, "answered", "pending")
    done = await q.lease(0.3)
    assert done and await q.ack(done.delivery_id)
    assert not await q.ack(done.delivery_id)
    await q.close()

    await asyncio.sleep(0.4)  # past the lease it had
    q = await open_queue(store_url)
    try:
        assert await drain(q) == ["pending"]
    finally:
        await q.close()


async def test_queued_and_leased_messages_survive_a_restart(store_url: str) -> None:
    q = await open_queue(store_url)
    await enqueue_texts(q, "1", "2", "豆哥撤回")
    in_flight = await q.lease(0.3)
    assert in_flight and in_flight.message.content == "豆哥撤回"
    await q.close()

    q = await open_queue(store_url)
    try:
        assert await q.depth() == {"recall": 0, "normal": 2, "leased": 1}
        await asyncio.sleep(0.4)
        back = await q.lease(30)
        assert back and back.message.content == "豆哥撤回" and back.attempts == 2
        assert await drain(q) == ["1", "2"]
    finally:
        await q.close()


async def test_depth_counts_each_lane_and_live_leases(queue: Queue) -> None:
    assert await queue.depth() == EMPTY
    await enqueue_texts(queue, "1", "2", "3", "豆哥撤回")
    assert await queue.depth() == {"recall": 1, "normal": 3, "leased": 0}
    await queue.lease(30)
    await queue.lease(0.2)
    assert await queue.depth() == {"recall": 0, "normal": 2, "leased": 2}
    await asyncio.sleep(0.4)
    assert await queue.depth() == {"recall": 0, "normal": 3, "leased": 1}


async def test_meta_values_are_shared_and_overwritten(store_url: str, queue: Queue) -> None:
    assert await queue.get_meta("bot_open_id") is None
    await queue.set_meta("bot_open_id", "ou_old")
    await queue.set_meta("bot_open_id", "ou_豆哥")
    other = await open_queue(store_url)
    try:
        assert await other.get_meta("bot_open_id") == "ou_豆哥"
        assert await other.get_meta("something_else") is None
    finally:
        await other.close()


async def test_long_poll_returns_none_when_nothing_arrives(queue: Queue) -> None:
    assert await queue.lease(30, wait=0.3) is None
    assert await queue.lease(30, wait=0) is None


async def test_long_poll_is_woken_by_an_enqueue(store_url: str, queue: Queue) -> None:
    waiting = asyncio.create_task(queue.lease(30, wait=20))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    other = await open_queue(store_url)  # another gateway on the same store
    try:
        await enqueue_texts(other, "wake up")
    finally:
        await other.close()
    delivery = await asyncio.wait_for(waiting, 10)
    assert delivery and delivery.message.content == "wake up"


async def test_long_poll_picks_up_a_lease_that_ran_out(queue: Queue) -> None:
    await enqueue_texts(queue, "crashed consumer")
    assert await queue.lease(0.3) is not None
    again = await queue.lease(30, wait=10)
    assert again and again.message.content == "crashed consumer" and again.attempts == 2


async def test_concurrent_enqueues_lose_nothing_and_store_nothing_twice(store_url: str, queue: Queue) -> None:
    messages = [msg(f"m{i}", n=i) for i in range(200)]
    results = await asyncio.gather(*(queue.enqueue(m, keys(m)) for m in messages + messages[:50]))
    assert sum(results) == 200
    assert await queue.depth() == {**EMPTY, "normal": 200}

    second = await open_queue(store_url)  # a second consumer
    try:
        async def consume(q: Queue) -> list[str]:
            got = []
            while (d := await q.lease(30)) is not None:
                got.append(d.message.content)
                assert await q.ack(d.delivery_id)
            return got

        a, b = await asyncio.gather(consume(queue), consume(second))
    finally:
        await second.close()
    assert not set(a) & set(b)
    assert sorted(a + b) == sorted(m.content for m in messages)
    assert await queue.depth() == EMPTY


async def test_waiting_consumers_share_the_messages(queue: Queue) -> None:
    waiters = [asyncio.create_task(queue.lease(30, wait=1.5)) for _ in range(5)]
    await asyncio.sleep(0.1)
    await enqueue_texts(queue, "a", "b", "c")
    results = await asyncio.gather(*waiters)
    assert sorted(d.message.content for d in results if d is not None) == ["a", "b", "c"]
    assert results.count(None) == 2


async def test_a_fetch_abandoned_as_it_leases_gives_the_message_straight_back(queue: Queue) -> None:
    await enqueue_texts(queue, "豆哥撤回")
    gone = asyncio.Event()
    gone.set()  # the caller left while the lease was being taken
    assert await lease_for_caller(queue, 1, 120.0, 5.0, abandoned=gone) == []
    [again] = await queue.lease_many(1, 120.0)  # at once, not after the 120 s lease
    assert again.message.content == "豆哥撤回" and again.attempts == 2


async def test_a_cancelled_long_poll_leases_nothing(queue: Queue) -> None:
    waiting = asyncio.create_task(lease_for_caller(queue, 1, 120.0, 30.0))
    await asyncio.sleep(0.2)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await enqueue_texts(queue, "question")
    [got] = await queue.lease_many(1, 120.0)
    assert got.message.content == "question" and got.attempts == 1
