"""The sent-message ledger in a SQLite file (WAL). See `larkdou.store.base` for the contract.

Tables: `sent` (one row per bot message), `recall_marks` (per chat), `answers` (the plan of each answer
still being sent). Rows, plans and recall marks older than the retention are removed in proportion to the rows added (each
write removes up to `SWEEP_PER_INSERT` expired ones) and by a periodic sweep, so a busy bot's ledger
stays bounded.
"""

from __future__ import annotations

import sqlite3
import time

from larkdou.store.base import SentMessage
from larkdou.store.common import LEDGER_RETENTION, SWEEP_PER_INSERT, now_ms
from larkdou.store.sqlite_db import SqliteDB, Sweeper

SWEEP_BATCH = 1000

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    chat_id TEXT NOT NULL,
    source_msg_id TEXT NOT NULL,
    sent_at_ms INTEGER NOT NULL,
    recalled INTEGER NOT NULL DEFAULT 0,
    recorded_at REAL NOT NULL,
    part INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sent_chat ON sent (chat_id, sent_at_ms, message_id) WHERE recalled = 0;
CREATE INDEX IF NOT EXISTS sent_source ON sent (source_msg_id, sent_at_ms, message_id);
CREATE INDEX IF NOT EXISTS sent_recorded ON sent (recorded_at);
CREATE TABLE IF NOT EXISTS recall_marks (chat_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL,
                                         set_at REAL NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS answers (source_msg_id TEXT PRIMARY KEY, plan TEXT NOT NULL,
                                    begun_at REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answers_begun ON answers (begun_at);
"""


def _upgrade(conn: sqlite3.Connection) -> None:
    """A file written by an older version: recall marks that did not carry the time they were set take
    their own time; rows written before parts were numbered are part 0."""
    if "part" not in {row[1] for row in conn.execute("PRAGMA table_info(sent)")}:
        conn.execute("ALTER TABLE sent ADD COLUMN part INTEGER NOT NULL DEFAULT 0")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(recall_marks)")}
    if "set_at" not in columns:
        conn.execute("ALTER TABLE recall_marks ADD COLUMN set_at REAL NOT NULL DEFAULT 0")
        conn.execute("UPDATE recall_marks SET set_at = ts_ms / 1000.0")
    conn.execute("CREATE INDEX IF NOT EXISTS recall_marks_set ON recall_marks (set_at)")


_SWEEP_SENT = "DELETE FROM sent WHERE n IN (SELECT n FROM sent WHERE recorded_at <= ? ORDER BY recorded_at LIMIT ?)"
_SWEEP_MARKS = ("DELETE FROM recall_marks WHERE chat_id IN "
                "(SELECT chat_id FROM recall_marks WHERE set_at <= ? ORDER BY set_at LIMIT ?)")
_SWEEP_ANSWERS = ("DELETE FROM answers WHERE source_msg_id IN "
                  "(SELECT source_msg_id FROM answers WHERE begun_at <= ? ORDER BY begun_at LIMIT ?)")


class SqliteLedger:
    """The sent-message ledger in a SQLite file. Open with `await SqliteLedger.open(path)`.

    Rows and recall marks are kept for `retention` seconds (a week by default).
    """

    def __init__(self, db: SqliteDB, retention: float) -> None:
        self._db = db
        self._retention = retention
        self._sweeper = Sweeper()

    @classmethod
    async def open(cls, path: str, *, retention: float = LEDGER_RETENTION) -> "SqliteLedger":
        """Open or create the ledger file at `path` (its folder too); StoreError when unusable."""
        return cls(await SqliteDB.open(path, LEDGER_SCHEMA, _upgrade), retention)

    def _sweep(self, conn: sqlite3.Connection, now: float, sent: int, marks: int, answers: int = 0) -> None:
        """Remove up to `sent` expired rows, `marks` expired recall marks and `answers` expired plans;
        everything expired (in bounded batches) when the periodic sweep is due."""
        if self._sweeper.due(now):
            sent = marks = answers = SWEEP_BATCH
        if sent:
            conn.execute(_SWEEP_SENT, (now - self._retention, sent))
        if marks:
            conn.execute(_SWEEP_MARKS, (now - self._retention, marks))
        if answers:
            conn.execute(_SWEEP_ANSWERS, (now - self._retention, answers))

    async def record_sent(self, sent: SentMessage) -> None:
        sent_at = sent.sent_at_ms or now_ms()

        def job(conn: sqlite3.Connection) -> None:
            now = time.time()
            self._sweep(conn, now, SWEEP_PER_INSERT, 0)
            conn.execute("INSERT OR IGNORE INTO sent (message_id, chat_id, source_msg_id, sent_at_ms, recorded_at, part) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (sent.message_id, sent.chat_id, sent.source_msg_id, sent_at, now, sent.part))

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
        sql = (f"SELECT message_id, chat_id, source_msg_id, sent_at_ms, part FROM sent {where} "
               "ORDER BY sent_at_ms, message_id")
        rows = await self._db.fetchall(sql, (arg,))
        return [SentMessage(*row) for row in rows]

    async def mark_recalled(self, message_id: str) -> None:
        await self._db.execute("UPDATE sent SET recalled = 1 WHERE message_id = ?", (message_id,))

    async def set_recall_mark(self, chat_id: str, ts_ms: int) -> None:
        def job(conn: sqlite3.Connection) -> None:
            now = time.time()
            self._sweep(conn, now, 0, SWEEP_PER_INSERT)
            conn.execute("INSERT INTO recall_marks (chat_id, ts_ms, set_at) VALUES (?, ?, ?) ON CONFLICT (chat_id) "
                         "DO UPDATE SET ts_ms = max(ts_ms, excluded.ts_ms), set_at = excluded.set_at",
                         (chat_id, int(ts_ms), now))

        await self._db.run(job)

    async def recall_mark(self, chat_id: str) -> int:
        row = await self._db.fetchone("SELECT ts_ms FROM recall_marks WHERE chat_id = ?", (chat_id,))
        return 0 if row is None else int(row[0])

    async def begin_answer(self, source_msg_id: str, plan: str) -> None:
        def job(conn: sqlite3.Connection) -> None:
            now = time.time()
            self._sweep(conn, now, 0, 0, SWEEP_PER_INSERT)
            conn.execute("INSERT INTO answers (source_msg_id, plan, begun_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (source_msg_id) DO UPDATE SET plan = excluded.plan", (source_msg_id, plan, now))

        await self._db.run(job)

    async def answer_plan(self, source_msg_id: str) -> str | None:
        row = await self._db.fetchone("SELECT plan FROM answers WHERE source_msg_id = ?", (source_msg_id,))
        return None if row is None else str(row[0])

    async def finish_answer(self, source_msg_id: str) -> None:
        await self._db.execute("DELETE FROM answers WHERE source_msg_id = ?", (source_msg_id,))

    async def ping(self) -> None:
        await self._db.fetchone("SELECT 1")

    async def close(self) -> None:
        await self._db.close()
