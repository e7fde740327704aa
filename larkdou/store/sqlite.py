"""The SQLite store: the queue and the ledger in one local file (WAL), the default backend.

Queue rows keep their arrival number (`seq`) for life, so a message whose lease ran out goes back to
its original place at the head of its lane. Dedup keys carry their expiry time and are swept now and
then, a bounded batch at a time. See `larkdou.store.base` for the contract.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Sequence

from larkdou.message import LANE_NORMAL, LANE_RECALL, Message
from larkdou.store import wake
from larkdou.store.base import Delivery, SentMessage
from larkdou.store.common import (LEDGER_RETENTION, delivery_seq, dump_message, load_message, long_poll,
                                  new_delivery_id, now_ms)
from larkdou.store.sqlite_db import SqliteDB

POLL_SECONDS = 0.15  # long-poll re-check: writes of other processes, leases that ran out
SWEEP_EVERY = 60.0  # seconds between sweeps of expired dedup keys / old ledger rows
SWEEP_BATCH = 1000

QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lane TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    delivery_id TEXT,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue (lane, seq) WHERE delivery_id IS NULL;
CREATE INDEX IF NOT EXISTS queue_leased ON queue (lease_until) WHERE delivery_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS dedup (key TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_expires ON dedup (expires);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    chat_id TEXT NOT NULL,
    source_msg_id TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    recalled INTEGER NOT NULL DEFAULT 0,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sent_chat ON sent (chat_id, sent_at_ms, message_id) WHERE recalled = 0;
CREATE INDEX IF NOT EXISTS sent_source ON sent (source_msg_id, sent_at_ms, message_id);
CREATE INDEX IF NOT EXISTS sent_recorded ON sent (recorded_at);
CREATE TABLE IF NOT EXISTS recall_marks (chat_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL) WITHOUT ROWID;
"""


class _Sweeper:
    """Runs a cleanup on the worker thread at most once per `SWEEP_EVERY` seconds."""

    def __init__(self) -> None:
        self._last = 0.0

    def due(self, now: float) -> bool:
        if now - self._last < SWEEP_EVERY:
            return False
        self._last = now
        return True


class SqliteQueue:
    """The message queue in a SQLite file. Open with `await SqliteQueue.open(path)`."""

    def __init__(self, db: SqliteDB, dedup_ttl: float) -> None:
        self._db = db
        self._dedup_ttl = dedup_ttl
        self._topic = "sqlite:" + os.path.realpath(db.path)
        self._sweeper = _Sweeper()

    @classmethod
    async def open(cls, path: str, *, dedup_ttl: float) -> "SqliteQueue":
        """Open or create the queue file at `path` (its folder too); StoreError when unusable."""
        return cls(await SqliteDB.open(path, QUEUE_SCHEMA), dedup_ttl)

    async def enqueue(self, msg: Message, dedup_keys: Sequence[str]) -> bool:
        keys = list(dict.fromkeys(dedup_keys))
        body, lane = dump_message(msg), msg.lane

        def job(conn: sqlite3.Connection) -> bool:
            now = time.time()
            if self._sweeper.due(now):
                conn.execute("DELETE FROM dedup WHERE key IN (SELECT key FROM dedup WHERE expires <= ? LIMIT ?)",
                             (now, SWEEP_BATCH))
            if keys:
                marks = ",".join("?" * len(keys))
                seen = conn.execute(f"SELECT 1 FROM dedup WHERE key IN ({marks}) AND expires > ? LIMIT 1",
                                    (*keys, now)).fetchone()
                if seen:
                    return False
                conn.executemany("INSERT OR REPLACE INTO dedup (key, expires) VALUES (?, ?)",
                                 [(k, now + self._dedup_ttl) for k in keys])
            conn.execute("INSERT INTO queue (lane, body) VALUES (?, ?)", (lane, body))
            return True

        added = await self._db.run(job)
        if added:
            wake.notify(self._topic)
        return added

    async def lease(self, lease_seconds: float, wait: float = 0.0, *,
                    recall_only: bool = False) -> Delivery | None:
        lanes = (LANE_RECALL,) if recall_only else (LANE_RECALL, LANE_NORMAL)
        return await long_poll(self._topic, lambda: self._lease_once(lease_seconds, lanes), wait, POLL_SECONDS)

    async def _lease_once(self, lease_seconds: float, lanes: tuple[str, ...]) -> Delivery | None:
        def job(conn: sqlite3.Connection) -> Delivery | None:
            now = time.time()
            _reclaim(conn, now)
            for lane in lanes:
                row = conn.execute("SELECT seq, body, attempts FROM queue WHERE lane = ? AND delivery_id IS NULL "
                                   "ORDER BY seq LIMIT 1", (lane,)).fetchone()
                if row is not None:
                    seq, body, attempts = row
                    delivery_id = new_delivery_id(seq)
                    conn.execute("UPDATE queue SET delivery_id = ?, lease_until = ?, attempts = ? WHERE seq = ?",
                                 (delivery_id, now + lease_seconds, attempts + 1, seq))
                    return Delivery(delivery_id, load_message(body), attempts + 1)
            return None

        return await self._db.run(job)

    async def ack(self, delivery_id: str) -> bool:
        seq = delivery_seq(delivery_id)
        if seq is None:
            return False

        removed = await self._db.execute("DELETE FROM queue WHERE seq = ? AND delivery_id = ? AND lease_until > ?",
                                         (seq, delivery_id, time.time()))
        return removed == 1

    async def depth(self) -> dict[str, int]:
        def job(conn: sqlite3.Connection) -> dict[str, int]:
            _reclaim(conn, time.time())
            counts = {LANE_RECALL: 0, LANE_NORMAL: 0, "leased": 0}
            rows = conn.execute("SELECT CASE WHEN delivery_id IS NULL THEN lane ELSE 'leased' END, count(*) "
                                "FROM queue GROUP BY 1").fetchall()
            counts.update({state: n for state, n in rows})
            return counts

        return await self._db.run(job)

    async def get_meta(self, key: str) -> str | None:
        row = await self._db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else row[0]

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    async def ping(self) -> None:
        await self._db.fetchone("SELECT 1")

    async def close(self) -> None:
        await self._db.close()


def _reclaim(conn: sqlite3.Connection, now: float) -> None:
    """Deliveries whose lease ran out become ready again, at their original place in the lane."""
    conn.execute("UPDATE queue SET delivery_id = NULL, lease_until = NULL "
                 "WHERE delivery_id IS NOT NULL AND lease_until <= ?", (now,))


class SqliteLedger:
    """The sent-message ledger in a SQLite file. Open with `await SqliteLedger.open(path)`.

    Rows are kept for `retention` seconds after they were recorded (a week by default).
    """

    def __init__(self, db: SqliteDB, retention: float) -> None:
        self._db = db
        self._retention = retention
        self._sweeper = _Sweeper()

    @classmethod
    async def open(cls, path: str, *, retention: float = LEDGER_RETENTION) -> "SqliteLedger":
        """Open or create the ledger file at `path` (its folder too); StoreError when unusable."""
        return cls(await SqliteDB.open(path, LEDGER_SCHEMA), retention)

    async def record_sent(self, sent: SentMessage) -> None:
        sent_at = sent.sent_at_ms or now_ms()

        def job(conn: sqlite3.Connection) -> None:
            now = time.time()
            if self._sweeper.due(now):
                conn.execute("DELETE FROM sent WHERE n IN (SELECT n FROM sent WHERE recorded_at <= ? LIMIT ?)",
                             (now - self._retention, SWEEP_BATCH))
            conn.execute("INSERT OR IGNORE INTO sent (message_id, chat_id, source_msg_id, sent_at_ms, recorded_at) "
                         "VALUES (?, ?, ?, ?, ?)", (sent.message_id, sent.chat_id, sent.source_msg_id, sent_at, now))

        await self._db.run(job)

    async def sent_in_chat(self, chat_id: str) -> list[SentMessage]:
        return await self._select("WHERE chat_id = ? AND recalled = 0", chat_id)

    async def sent_for_source(self, source_msg_id: str) -> list[SentMessage]:
        if not source_msg_id:
            return []
        return await self._select("WHERE source_msg_id = ?", source_msg_id)

    async def find_sent(self, message_id: str) -> SentMessage | None:
        found = await self._select("WHERE message_id = ?", message_id) if message_id else []
        return found[0] if found else None

    async def _select(self, where: str, arg: str) -> list[SentMessage]:
        sql = f"SELECT message_id, chat_id, source_msg_id, sent_at_ms FROM sent {where} ORDER BY sent_at_ms, message_id"
        rows = await self._db.fetchall(sql, (arg,))
        return [SentMessage(*row) for row in rows]

    async def mark_recalled(self, message_id: str) -> None:
        await self._db.execute("UPDATE sent SET recalled = 1 WHERE message_id = ?", (message_id,))

    async def set_recall_mark(self, chat_id: str, ts_ms: int) -> None:
        await self._db.execute("INSERT INTO recall_marks (chat_id, ts_ms) VALUES (?, ?) "
                               "ON CONFLICT (chat_id) DO UPDATE SET ts_ms = max(ts_ms, excluded.ts_ms)",
                               (chat_id, int(ts_ms)))

    async def recall_mark(self, chat_id: str) -> int:
        row = await self._db.fetchone("SELECT ts_ms FROM recall_marks WHERE chat_id = ?", (chat_id,))
        return 0 if row is None else int(row[0])

    async def ping(self) -> None:
        await self._db.fetchone("SELECT 1")

    async def close(self) -> None:
        await self._db.close()
