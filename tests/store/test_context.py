"""The conversation context store, run against SQLite and Redis alike."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest
import redis as redis_sync

from larkdou.message import Message
from larkdou.store import ContextEntry, ContextStore, Ledger, SentMessage, open_context, open_ledger
from larkdou.store.context import MAX_TEXT, RECENT_WINDOW_MS, replies_to_bot

T0 = 1_700_000_000_000
CHAT = "oc_chat1"


def said(n: int, text: str = "", *, parent: str = "", root: str = "", thread: str = "", chat: str = CHAT,
         chat_type: str = "group", at: int = 0) -> Message:
    """User message om_u<n>, written at T0 + n seconds."""
    return Message(msg_id=f"om_u{n}", group_id=chat, content=text or f"message {n}", user_id="ou_alice",
                   msg_time=at or T0 + n * 1000, parent_id=parent, root_id=root, thread_id=thread,
                   chat_type=chat_type)


def answer(question: Message, n: int, text: str = "", sources: tuple[str, ...] = ()) -> ContextEntry:
    """The bot's reply om_b<n> to `question`, half a second after it."""
    return ContextEntry.bot(question, f"om_b{n}", text or f"answer {n}", sources, at_ms=question.msg_time + 500)


def ids(entries: list[ContextEntry]) -> list[str]:
    return [e.message_id for e in entries]


@pytest.fixture
async def context(store_url: str) -> AsyncIterator[ContextStore]:
    store = await open_context(store_url)
    yield store
    await store.close()


async def remember(store: ContextStore, *items: Message | ContextEntry) -> None:
    for item in items:
        await store.record(item if isinstance(item, ContextEntry) else ContextEntry.user(item))


async def test_a_reply_to_the_bot_sees_the_answer_and_the_question(context: ContextStore) -> None:
    q = said(1, "Redis 怎么配置？")
    a = answer(q, 1, "在 [gateway] store 写 redis://…", ("docs/store.md",))
    chatter = said(2, "中午吃什么")
    follow = said(3, "那 SQLite 呢？", parent="om_b1", root="om_u1")
    await remember(context, q, a, chatter)
    got = await context.context(follow, 6)
    assert ids(got) == ["om_u1", "om_b1"]  # oldest first; the chatter is not part of it
    question, reply = got
    assert (question.role, question.text, question.sender) == ("user", "Redis 怎么配置？", "ou_alice")
    assert (reply.role, reply.parent_id, reply.sources) == ("bot", "om_u1", ["docs/store.md"])


async def test_a_long_exchange_keeps_the_nearest_messages(context: ContextStore) -> None:
    q1 = said(1)
    f1 = said(2, parent="om_b1", root="om_u1")
    f2 = said(3, parent="om_b2", root="om_u1")
    await remember(context, q1, answer(q1, 1), f1, answer(f1, 2), f2, answer(f2, 3))
    f3 = said(4, parent="om_b3", root="om_u1")
    assert ids(await context.context(f3, 10)) == ["om_u1", "om_b1", "om_u2", "om_b2", "om_u3", "om_b3"]
    assert ids(await context.context(f3, 3)) == ["om_b2", "om_u3", "om_b3"]
    assert await context.context(f3, 0) == []


async def test_a_thread_brings_its_root_and_newest_messages(context: ContextStore) -> None:
    root = said(1, "部署问题讨论", thread="omt_1")
    inside = [said(n, root="om_u1", parent="om_u1", thread="omt_1") for n in (2, 3, 4, 5)]
    elsewhere = said(6, "别的话题")
    await remember(context, root, *inside, elsewhere)
    new = said(7, "还是不行，报错是 …", root="om_u1", parent="om_u1", thread="omt_1")
    assert ids(await context.context(new, 10)) == ["om_u1", "om_u2", "om_u3", "om_u4", "om_u5"]
    # the root (the parent) first, then the thread's newest
    assert ids(await context.context(new, 3)) == ["om_u1", "om_u4", "om_u5"]


async def test_an_answer_in_a_thread_is_found_from_the_thread(context: ContextStore) -> None:
    """reply_in_thread: follow-ups in the thread name the root as their parent, not the answer."""
    q = said(1, "怎么撤回？")
    await remember(context, q, answer(q, 1, "说 豆哥撤回"))
    follow = said(2, "那谁能撤回？", root="om_u1", parent="om_u1", thread="omt_new")
    assert ids(await context.context(follow, 6)) == ["om_u1", "om_b1"]


async def test_never_the_message_itself_nor_later_ones(context: ContextStore) -> None:
    root = said(1)
    early = said(2, root="om_u1", parent="om_u1")
    me = said(3, root="om_u1", parent="om_u1")
    later = said(4, root="om_u1", parent="om_u1")
    await remember(context, root, early, me, later)  # e.g. a redelivered message, handled after others
    assert ids(await context.context(me, 10)) == ["om_u1", "om_u2"]


async def test_a_plain_group_message_has_no_context_but_a_direct_chat_does(context: ContextStore) -> None:
    await remember(context, said(1), said(2))
    assert await context.context(said(3), 6) == []
    assert ids(await context.context(said(3), 6, recent=True)) == ["om_u1", "om_u2"]

    dm = "oc_direct"
    old = said(10, "很久以前", chat=dm, chat_type="p2p")
    q = said(11, "Redis 怎么配置？", chat=dm, chat_type="p2p", at=old.msg_time + RECENT_WINDOW_MS + 60_000)
    await remember(context, old, q, answer(q, 11))
    follow = said(12, "那 SQLite 呢？", chat=dm, chat_type="p2p", at=q.msg_time + 30_000)
    assert ids(await context.context(follow, 6)) == ["om_u11", "om_b11"]  # the old one is outside the window
    assert await context.context(follow, 6, recent=False) == []


async def test_recording_twice_keeps_the_first(context: ContextStore) -> None:
    await context.record(ContextEntry.user(said(1, "first")))
    await context.record(ContextEntry.user(said(1, "second")))
    got = await context.entry("om_u1")
    assert got is not None and got.text == "first"
    assert await context.entry("om_unknown") is None


async def test_text_and_sources_are_bounded(context: ContextStore) -> None:
    q = said(1, "长" * (MAX_TEXT + 500))
    await remember(context, q, answer(q, 1, "答", tuple(f"doc{n}.md" for n in range(20))))
    stored = await context.entry("om_u1")
    assert stored is not None and len(stored.text) == MAX_TEXT and stored.text.endswith("…")
    bot = await context.entry("om_b1")
    assert bot is not None and bot.sources == [f"doc{n}.md" for n in range(8)]


async def test_each_chat_keeps_its_newest_messages(store_url: str) -> None:
    store = await open_context(store_url, keep=5)
    try:
        await remember(store, *[said(n, root="om_u1", parent="om_u1") for n in range(2, 10)])
        await remember(store, said(1, chat="oc_other"))
        assert [await store.entry(f"om_u{n}") is not None for n in range(2, 10)] == [False] * 3 + [True] * 5
        assert await store.entry("om_u1") is not None  # another chat's message stays
        new = said(20, root="om_u1", parent="om_u1")
        assert ids(await store.context(new, 20)) == ["om_u5", "om_u6", "om_u7", "om_u8", "om_u9"]
    finally:
        await store.close()


async def test_messages_expire(store_url: str) -> None:
    store = await open_context(store_url, ttl=1)
    try:
        q = said(1)
        await remember(store, q, answer(q, 1))
        assert await store.entry("om_b1") is not None
        await asyncio.sleep(2.2)
        assert await store.entry("om_b1") is None
        assert await store.context(said(2, parent="om_b1", root="om_u1"), 6) == []
    finally:
        await store.close()


async def test_a_recall_takes_the_bots_answers_out_of_the_context(context: ContextStore) -> None:
    q1, q2 = said(1), said(2, root="om_u1", parent="om_b1")
    other = said(3, chat="oc_other")
    await remember(context, q1, answer(q1, 1), q2, answer(q2, 2), other, answer(other, 3))
    assert await context.drop_bot(CHAT, ["om_b2", "om_u1", "om_b3"]) == 1  # a user's and another chat's stay
    assert await context.entry("om_b2") is None and await context.entry("om_u1") is not None
    assert await context.drop_bot(CHAT) == 1
    assert await context.drop_bot(CHAT) == 0
    follow = said(4, root="om_u1", parent="om_b2")
    assert ids(await context.context(follow, 6)) == ["om_u1", "om_u2"]
    assert await context.entry("om_b3") is not None


async def test_forgetting_a_chat_leaves_the_others(context: ContextStore) -> None:
    q = said(1, root="om_u0", thread="omt_1")
    await remember(context, q, answer(q, 1), said(2, chat="oc_other"))
    assert await context.forget_chat(CHAT) == 2
    assert await context.forget_chat(CHAT) == 0
    assert await context.entry("om_u1") is None and await context.entry("om_u2") is not None
    assert await context.context(said(3, root="om_u0", parent="om_b1", thread="omt_1"), 6) == []
    await remember(context, said(4))  # the chat is usable again
    assert await context.entry("om_u4") is not None


async def test_any_instance_sees_the_context_also_after_a_restart(store_url: str) -> None:
    first, second = await open_context(store_url), await open_context(store_url)
    q = said(1)
    await first.record(ContextEntry.user(q))
    await second.record(answer(q, 1))
    await first.close()
    follow = said(2, parent="om_b1", root="om_u1")
    assert ids(await second.context(follow, 6)) == ["om_u1", "om_b1"]
    await second.close()
    reopened = await open_context(store_url)
    try:
        assert ids(await reopened.context(follow, 6)) == ["om_u1", "om_b1"]
    finally:
        await reopened.close()


async def test_the_ledger_tells_replies_to_the_bot_and_shares_the_store(store_url: str) -> None:
    ledger: Ledger = await open_ledger(store_url)
    context = await open_context(store_url)
    try:
        q = said(1)
        await asyncio.gather(*(ledger.record_sent(SentMessage(f"om_b{n}", CHAT, f"om_u{n}", T0 + n)) for n in range(20)),
                             *(context.record(ContextEntry.user(said(n))) for n in range(20, 40)))
        found = await ledger.find_sent("om_b1")
        assert found == SentMessage("om_b1", CHAT, "om_u1", T0 + 1)
        await ledger.mark_recalled("om_b1")
        assert await ledger.find_sent("om_b1") == found  # a recalled message was still the bot's
        assert await ledger.find_sent("om_u1") is None and await ledger.find_sent("") is None
        assert await replies_to_bot(said(2, parent="om_b1", root="om_u1"), ledger)
        assert not await replies_to_bot(said(3, parent="om_u1", root="om_u1"), ledger)
        assert not await replies_to_bot(q, ledger)
        assert await context.entry("om_u39") is not None
    finally:
        await ledger.close()
        await context.close()


async def test_redis_keys_live_under_the_namespace_and_expire(redis_url: str) -> None:
    store = await open_context(redis_url, ttl=3600)
    try:
        q = said(1, root="om_u0", thread="omt_1")
        await remember(store, q, answer(q, 1))
    finally:
        await store.close()
    client = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    try:
        names = client.keys("*")
        assert len(names) == 4 and all(n.startswith("{larkdou}:c:") for n in names)
        assert all(0 < client.ttl(n) <= 3600 for n in names)
    finally:
        client.close()
