"""The context store in the assistant's SQLite file (table `context`, beside the ledger's tables).

Every operation is one job of the file's worker thread, so one transaction. Expired rows are not
read and are swept now and then, a bounded batch at a time. See `larkdou.store.context`.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Sequence

from larkdou.message import Message
from larkdou.store.context import (DEFAULT_KEEP, DEFAULT_TTL, ROLE_BOT, ContextEntry, ContextQuery,
                                   select)
from larkdou.store.sqlite_db import SqliteDB

SWEEP_EVERY = 60.0
SWEEP_BATCH = 1000

CONTEXT_SCHEMA = """
CREATE TABLE IF NOT EXISTS context (
    message_id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    sender TEXT NOT NULL,
    thread TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    sources TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS context_chat ON context (chat_id, at_ms, message_id);
CREATE INDEX IF NOT EXISTS context_thread ON context (thread, at_ms, message_id);
CREATE INDEX IF NOT EXISTS context_expires ON context (expires);
"""

_COLUMNS = "message_id, chat_id, role, text, sender, thread, parent_id, sources, at_ms"


def _entry(row: tuple) -> ContextEntry:  # type: ignore[type-arg]
    message_id, chat_id, role, text, sender, thread, parent_id, sources, at_ms = row
    return ContextEntry(message_id, chat_id, role, text, sender, thread, parent_id,
                        ContextEntry.load_sources(sources), int(at_ms))


def _get(conn: sqlite3.Connection, message_id: str, now: float) -> ContextEntry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM context WHERE message_id = ? AND expires > ?",
                       (message_id, now)).fetchone()
    return None if row is None else _entry(row)


def _newest(conn: sqlite3.Connection, where: str, args: tuple, q: ContextQuery,  # type: ignore[type-arg]
            now: float) -> list[ContextEntry]:
    """The newest entries matching `where` up to the message's time (one more than the limit, as
    the message itself may be among them)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM context WHERE {where} AND at_ms <= ? AND expires > ? "
                        "ORDER BY at_ms DESC, message_id DESC LIMIT ?", (*args, q.before_ms, now, q.limit + 1)).fetchall()
    return [_entry(r) for r in rows]


class SqliteContext:
    """Open with `await SqliteContext.open(path, keep=…, ttl=…)` (the assistant's store file)."""

    def __init__(self, db: SqliteDB, keep: int, ttl: float) -> None:
        self._db = db
        self._keep = keep
        self._ttl = ttl
        self._last_sweep = 0.0

    @classmethod
    async def open(cls, path: str, *, keep: int = DEFAULT_KEEP, ttl: float = DEFAULT_TTL) -> "SqliteContext":
        """Open or create the table in the file at `path` (its folder too); StoreError when unusable."""
        return cls(await SqliteDB.open(path, CONTEXT_SCHEMA), keep, ttl)

    async def record(self, entry: ContextEntry) -> None:
        e = entry.bounded()

        def job(conn: sqlite3.Connection) -> None:
            now = time.time()
            if now - self._last_sweep >= SWEEP_EVERY:
                self._last_sweep = now
                conn.execute("DELETE FROM context WHERE message_id IN "
                             "(SELECT message_id FROM context WHERE expires <= ? LIMIT ?)", (now, SWEEP_BATCH))
            conn.execute(f"INSERT OR IGNORE INTO context ({_COLUMNS}, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (e.message_id, e.chat_id, e.role, e.text, e.sender, e.thread, e.parent_id,
                          e.dump_sources(), e.at_ms, now + self._ttl))
            conn.execute("DELETE FROM context WHERE message_id IN (SELECT message_id FROM context WHERE chat_id = ? "
                         "ORDER BY at_ms DESC, message_id DESC LIMIT -1 OFFSET ?)", (e.chat_id, self._keep))

        await self._db.run(job)

    async def context(self, msg: Message, limit: int, *, recent: bool | None = None) -> list[ContextEntry]:
        q = ContextQuery.of(msg, limit, recent)
        if q.limit == 0:
            return []

        def job(conn: sqlite3.Connection) -> list[ContextEntry]:
            now = time.time()
            chain: list[ContextEntry] = []
            seen = {q.message_id}
            cur = q.parent_id
            while cur and cur not in seen and len(chain) < q.limit:
                seen.add(cur)
                found = _get(conn, cur, now)
                if found is None:
                    break
                chain.append(found)
                cur = found.parent_id
            if q.root_id and q.root_id not in seen and (root := _get(conn, q.root_id, now)) is not None:
                chain.append(root)
            thread = [e for key in q.threads for e in _newest(conn, "thread = ?", (key,), q, now)]
            recent_entries = (_newest(conn, "chat_id = ? AND at_ms >= ?", (q.chat_id, q.recent_since_ms), q, now)
                              if q.recent_since_ms >= 0 else [])
            return select(q, chain, thread, recent_entries)

        return await self._db.run(job)

    async def entry(self, message_id: str) -> ContextEntry | None:
        return await self._db.run(lambda conn: _get(conn, message_id, time.time()))

    async def drop_bot(self, chat_id: str, message_ids: Sequence[str] | None = None) -> int:
        if message_ids is None:
            return await self._db.execute("DELETE FROM context WHERE chat_id = ? AND role = ?", (chat_id, ROLE_BOT))
        ids = list(dict.fromkeys(message_ids))

        def job(conn: sqlite3.Connection) -> int:
            return sum(conn.execute("DELETE FROM context WHERE message_id = ? AND chat_id = ? AND role = ?",
                                    (i, chat_id, ROLE_BOT)).rowcount for i in ids)

        return await self._db.run(job)

    async def forget_chat(self, chat_id: str) -> int:
        return await self._db.execute("DELETE FROM context WHERE chat_id = ?", (chat_id,))

    async def ping(self) -> None:
        await self._db.fetchone("SELECT 1")

    async def close(self) -> None:
        await self._db.close()
