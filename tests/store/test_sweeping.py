"""Expired dedup keys, ledger rows and recall marks are removed in proportion to what is added, so a
busy store stays bounded (SQLite rows; Redis key TTLs)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import redis as redis_sync

from larkdou.store import SentMessage, open_queue
from larkdou.store.redis_ledger import RedisLedger
from larkdou.store.sqlite_ledger import SqliteLedger
from tests.store.helpers import keys, msg

ROUNDS, PER_ROUND = 12, 60


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


async def test_sqlite_dedup_keys_stay_bounded_under_steady_inserts(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    queue = await open_queue(f"sqlite:///{path}", dedup_ttl=0.1)
    try:
        for r in range(ROUNDS):  # the periodic sweep ran once, at the first insert; the rest is proportional
            for i in range(PER_ROUND):
                m = msg(f"{r}-{i}", n=f"{r}_{i}")
                assert await queue.enqueue(m, keys(m))
            await asyncio.sleep(0.15)  # everything inserted so far has expired
        # each round adds 2 keys a message; without proportional sweeping all 1440 would still be there
        assert count(path, "dedup") <= 2 * PER_ROUND * 2
    finally:
        await queue.close()


async def test_sqlite_ledger_rows_and_recall_marks_stay_bounded(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = await SqliteLedger.open(str(path), retention=0.1)
    try:
        for r in range(ROUNDS):
            for i in range(PER_ROUND):
                await ledger.record_sent(SentMessage(f"om_bot_{r}_{i}", f"oc_{i}", f"om_q_{r}_{i}"))
                await ledger.set_recall_mark(f"oc_{r}_{i}", 1_700_000_000_000)
                await ledger.begin_answer(f"om_q_{r}_{i}", "{}")  # never finished (its message never came back)
            await asyncio.sleep(0.15)
        assert count(path, "sent") <= 2 * PER_ROUND
        assert count(path, "recall_marks") <= 2 * PER_ROUND
        assert count(path, "answers") <= 2 * PER_ROUND
        # what is fresh is kept
        await ledger.record_sent(SentMessage("om_fresh", "oc_fresh", "om_q"))
        await ledger.set_recall_mark("oc_fresh", 42)
        assert [s.message_id for s in await ledger.sent_in_chat("oc_fresh")] == ["om_fresh"]
        assert await ledger.recall_mark("oc_fresh") == 42
    finally:
        await ledger.close()


async def test_a_ledger_written_before_recall_marks_carried_their_time_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recall_marks (chat_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL) WITHOUT ROWID")
        conn.execute("INSERT INTO recall_marks VALUES ('oc_old', 1700000000000)")
    ledger = await SqliteLedger.open(str(path))
    try:
        assert await ledger.recall_mark("oc_old") == 1_700_000_000_000
        await ledger.set_recall_mark("oc_old", 1_700_000_000_500)
        assert await ledger.recall_mark("oc_old") == 1_700_000_000_500
    finally:
        await ledger.close()


async def test_redis_keys_expire_and_a_busy_chat_set_stays_bounded(redis_url: str) -> None:
    queue = await open_queue(redis_url, dedup_ttl=0.1)
    ledger = await RedisLedger.open(redis_url, retention=1)
    client = redis_sync.Redis.from_url(redis_url, decode_responses=True)
    try:
        for i in range(PER_ROUND):
            m = msg(str(i), n=i)
            await queue.enqueue(m, keys(m))
            await ledger.record_sent(SentMessage(f"om_bot_{i}", "oc_busy", f"om_q_{i}"))
            await ledger.set_recall_mark(f"oc_{i}", 5)
            await ledger.begin_answer(f"om_q_{i}", "{}")
        await asyncio.sleep(1.2)
        for i in range(PER_ROUND):  # the chat keeps talking: its set is refreshed each time
            await ledger.record_sent(SentMessage(f"om_new_{i}", "oc_busy", f"om_r_{i}"))
        assert client.keys("*q:d:*") == [] and client.keys("*l:mark:*") == [] and client.keys("*l:ans:*") == []
        chat = next(k for k in client.keys("*l:chat:oc_busy"))
        assert client.zcard(chat) <= PER_ROUND + 2  # the expired ids were dropped as new ones came
        assert all(0 < client.ttl(k) <= 1 for k in client.keys("*l:*"))
    finally:
        client.close()
        await queue.close()
        await ledger.close()


async def test_a_ledger_written_before_parts_were_numbered_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE sent (n INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, "
                     "chat_id TEXT NOT NULL, source_msg_id TEXT NOT NULL, sent_at_ms INTEGER NOT NULL, "
                     "recalled INTEGER NOT NULL DEFAULT 0, recorded_at REAL NOT NULL)")
        conn.execute("INSERT INTO sent (message_id, chat_id, source_msg_id, sent_at_ms, recorded_at) "
                     "VALUES ('om_old', 'oc_old', 'om_q', 1700000000000, 1700000000.0)")
    ledger = await SqliteLedger.open(str(path))
    try:
        assert await ledger.sent_for_source("om_q") == [SentMessage("om_old", "oc_old", "om_q", 1_700_000_000_000, 0)]
        assert await ledger.answer_plan("om_q") is None  # answered before plans existed: complete
        await ledger.record_sent(SentMessage("om_new", "oc_old", "om_q2", part=3))
        assert [s.part for s in await ledger.sent_for_source("om_q2")] == [3]
    finally:
        await ledger.close()
