"""The sent-message ledger contract, run against SQLite and Redis alike."""

from __future__ import annotations

from larkdou.store import Ledger, SentMessage, open_ledger, open_queue


def sent(n: int, *, chat: str = "oc_chat1", source: str = "", at: int = 0) -> SentMessage:
    return SentMessage(message_id=f"om_bot{n}", chat_id=chat, source_msg_id=source,
                       sent_at_ms=at or 1_700_000_000_000 + n)


def ids(items: list[SentMessage]) -> list[str]:
    return [s.message_id for s in items]


async def test_messages_of_a_chat_are_listed_oldest_first(ledger: Ledger) -> None:
    await ledger.record_sent(sent(3, source="om_q3"))
    await ledger.record_sent(sent(1, source="om_q1"))
    await ledger.record_sent(sent(2, chat="oc_other"))
    await ledger.record_sent(sent(4))
    assert await ledger.sent_in_chat("oc_chat1") == [sent(1, source="om_q1"), sent(3, source="om_q3"), sent(4)]
    assert ids(await ledger.sent_in_chat("oc_other")) == ["om_bot2"]
    assert await ledger.sent_in_chat("oc_nobody") == []


async def test_recording_twice_keeps_one_entry(ledger: Ledger) -> None:
    await ledger.record_sent(sent(1, source="om_q"))
    await ledger.record_sent(sent(1, source="om_q"))
    assert ids(await ledger.sent_in_chat("oc_chat1")) == ["om_bot1"]
    assert ids(await ledger.sent_for_source("om_q")) == ["om_bot1"]


async def test_a_missing_send_time_means_now(ledger: Ledger) -> None:
    await ledger.record_sent(SentMessage("om_now", "oc_chat1"))
    [item] = await ledger.sent_in_chat("oc_chat1")
    assert item.sent_at_ms > 1_700_000_000_000


async def test_recalled_messages_leave_the_chat_list_only(ledger: Ledger) -> None:
    for n in (1, 2, 3):
        await ledger.record_sent(sent(n, source="om_q"))
    await ledger.record_sent(sent(4, chat="oc_other"))
    await ledger.mark_recalled("om_bot2")
    await ledger.mark_recalled("om_bot2")
    await ledger.mark_recalled("om_never_sent")
    assert ids(await ledger.sent_in_chat("oc_chat1")) == ["om_bot1", "om_bot3"]
    assert ids(await ledger.sent_in_chat("oc_other")) == ["om_bot4"]
    # the answer was given, even if taken back: it must not be sent again
    assert ids(await ledger.sent_for_source("om_q")) == ["om_bot1", "om_bot2", "om_bot3"]


async def test_recording_again_after_a_recall_does_not_bring_it_back(ledger: Ledger) -> None:
    await ledger.record_sent(sent(1))
    await ledger.mark_recalled("om_bot1")
    await ledger.record_sent(sent(1))
    assert await ledger.sent_in_chat("oc_chat1") == []


async def test_lookup_by_source_message(ledger: Ledger) -> None:
    await ledger.record_sent(sent(1, source="om_q1"))
    await ledger.record_sent(sent(2, source="om_q1"))  # a long answer split in two
    await ledger.record_sent(sent(3, source="om_q2"))
    await ledger.record_sent(sent(4))  # unsolicited
    assert ids(await ledger.sent_for_source("om_q1")) == ["om_bot1", "om_bot2"]
    assert ids(await ledger.sent_for_source("om_q2")) == ["om_bot3"]
    assert await ledger.sent_for_source("om_unanswered") == []
    assert await ledger.sent_for_source("") == []


async def test_recall_mark_keeps_the_latest_per_chat(ledger: Ledger) -> None:
    assert await ledger.recall_mark("oc_chat1") == 0
    await ledger.set_recall_mark("oc_chat1", 2_000)
    await ledger.set_recall_mark("oc_chat1", 1_000)
    await ledger.set_recall_mark("oc_other", 500)
    assert await ledger.recall_mark("oc_chat1") == 2_000
    assert await ledger.recall_mark("oc_other") == 500
    await ledger.set_recall_mark("oc_chat1", 3_000)
    assert await ledger.recall_mark("oc_chat1") == 3_000


async def test_two_assistants_on_one_store_see_each_others_messages(store_url: str, ledger: Ledger) -> None:
    other = await open_ledger(store_url)
    try:
        await ledger.record_sent(sent(1, source="om_q1"))
        await other.record_sent(sent(2, source="om_q2"))
        assert ids(await other.sent_in_chat("oc_chat1")) == ["om_bot1", "om_bot2"]
        await other.mark_recalled("om_bot1")
        await ledger.set_recall_mark("oc_chat1", 42)
        assert ids(await ledger.sent_in_chat("oc_chat1")) == ["om_bot2"]
        assert ids(await ledger.sent_for_source("om_q2")) == ["om_bot2"]
        assert await other.recall_mark("oc_chat1") == 42
    finally:
        await other.close()


async def test_the_ledger_survives_a_restart(store_url: str) -> None:
    first = await open_ledger(store_url)
    await first.record_sent(sent(1, source="om_q1"))
    await first.record_sent(sent(2, source="om_q2"))
    await first.mark_recalled("om_bot1")
    await first.set_recall_mark("oc_chat1", 7)
    await first.close()

    again = await open_ledger(store_url)
    try:
        assert ids(await again.sent_in_chat("oc_chat1")) == ["om_bot2"]
        assert ids(await again.sent_for_source("om_q1")) == ["om_bot1"]
        assert await again.recall_mark("oc_chat1") == 7
    finally:
        await again.close()


async def test_queue_and_ledger_can_share_one_store(store_url: str, ledger: Ledger) -> None:
    queue = await open_queue(store_url)
    try:
        await ledger.record_sent(sent(1))
        await queue.set_meta("bot_open_id", "ou_bot")
        assert ids(await ledger.sent_in_chat("oc_chat1")) == ["om_bot1"]
        assert await queue.depth() == {"recall": 0, "normal": 0, "leased": 0}
    finally:
        await queue.close()


async def test_parts_of_an_answer_keep_their_number(ledger: Ledger) -> None:
    await ledger.record_sent(SentMessage("om_p0", "oc_chat1", "om_q", 1_700_000_000_001, part=0))
    await ledger.record_sent(SentMessage("om_p1001", "oc_chat1", "om_q", 1_700_000_000_002, part=1001))
    assert [s.part for s in await ledger.sent_for_source("om_q")] == [0, 1001]
    assert [s.part for s in await ledger.sent_in_chat("oc_chat1")] == [0, 1001]
    found = await ledger.find_sent("om_p1001")
    assert found is not None and found.part == 1001


async def test_an_unfinished_answer_keeps_its_plan_until_finished(store_url: str, ledger: Ledger) -> None:
    assert await ledger.answer_plan("om_q") is None
    await ledger.begin_answer("om_q", '{"streamed": true}')
    await ledger.begin_answer("om_q", '{"streamed": true, "reply": "全文"}')  # the final answer is known
    other = await open_ledger(store_url)  # another assistant, or this one after a restart
    try:
        assert await other.answer_plan("om_q") == '{"streamed": true, "reply": "全文"}'
        assert await other.answer_plan("om_elsewhere") is None
        await other.finish_answer("om_q")
        await other.finish_answer("om_q")
        await other.finish_answer("om_never_begun")
        assert await ledger.answer_plan("om_q") is None
    finally:
        await other.close()
