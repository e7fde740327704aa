"""The SQLite queue: lanes, leases and the dead-letter list in one local file (WAL), the default backend.

Queue rows keep their arrival number (`seq`) for life, so a message whose lease ran out goes back to
its original place at the head of its lane, and a dead letter that is retried goes back there too.
Dedup keys carry their expiry time; each enqueue removes a few expired ones (in proportion to the keys
it adds) and a periodic sweep removes the rest. See `larkdou.store.base` for the contract; the ledger
is in `sqlite_ledger`.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from typing import Sequence

from larkdou.message import LANE_NORMAL, LANE_RECALL, Message
from larkdou.store import wake
from larkdou.store.base import DeadLetter, Delivery
from larkdou.store.common import (DEFAULT_MAX_ATTEMPTS, SWEEP_PER_INSERT, SingleForms, dead_seqs, delivery_seq,
                                  dump_message, load_message, long_poll, new_delivery_id, new_delivery_token,
                                  report_dead)
from larkdou.store.sqlite_db import SqliteDB, Sweeper
from larkdou.store.sqlite_ledger import SqliteLedger

__all__ = ["SqliteQueue", "SqliteLedger"]

POLL_SECONDS = 0.15  # long-poll re-check: writes of other processes, leases that ran out
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
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    lane TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    died_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup (key TEXT PRIMARY KEY, expires REAL NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_expires ON dedup (expires);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""

_SWEEP_DEDUP = "DELETE FROM dedup WHERE key IN (SELECT key FROM dedup WHERE expires <= ? ORDER BY expires LIMIT ?)"
_EXPIRED = "delivery_id IS NOT NULL AND lease_until <= ?"


class SqliteQueue(SingleForms):
    """The message queue in a SQLite file. Open with `await SqliteQueue.open(path)`."""

    def __init__(self, db: SqliteDB, dedup_ttl: float, max_attempts: int) -> None:
        self._db = db
        self._dedup_ttl = dedup_ttl
        self._max_attempts = max_attempts
        self._topic = "sqlite:" + os.path.realpath(db.path)
        self._sweeper = Sweeper()

    @classmethod
    async def open(cls, path: str, *, dedup_ttl: float,
                   max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> "SqliteQueue":
        """Open or create the queue file at `path` (its folder too); StoreError when unusable."""
        return cls(await SqliteDB.open(path, QUEUE_SCHEMA), dedup_ttl, max_attempts)

    async def enqueue(self, msg: Message, dedup_keys: Sequence[str]) -> bool:
        keys = list(dict.fromkeys(dedup_keys))
        body, lane = dump_message(msg), msg.lane

        def job(conn: sqlite3.Connection) -> bool:
            now = time.time()
            sweep = SWEEP_BATCH if self._sweeper.due(now) else SWEEP_PER_INSERT * len(keys)
            if sweep:
                conn.execute(_SWEEP_DEDUP, (now, sweep))
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

    async def lease_many(self, n: int, lease_seconds: float, wait: float = 0.0, *,
                         recall_only: bool = False, abandoned: asyncio.Event | None = None) -> list[Delivery]:
        lanes = (LANE_RECALL,) if recall_only else (LANE_RECALL, LANE_NORMAL)
        got = await long_poll(self._topic, lambda: self._lease_once(max(1, n), lease_seconds, lanes), wait,
                              POLL_SECONDS, abandoned)
        return got or []

    async def _lease_once(self, n: int, lease_seconds: float, lanes: tuple[str, ...]) -> list[Delivery] | None:
        def job(conn: sqlite3.Connection) -> tuple[list[Delivery], int]:
            now = time.time()
            died = self._reclaim(conn, now)
            token, out = new_delivery_token(), []
            for lane in lanes:
                rows = conn.execute("SELECT seq, body, attempts FROM queue WHERE lane = ? AND delivery_id IS NULL "
                                    "ORDER BY seq LIMIT ?", (lane, n - len(out))).fetchall()
                leased = []
                for seq, body, attempts in rows:
                    delivery_id = new_delivery_id(seq, token)
                    leased.append((delivery_id, now + lease_seconds, attempts + 1, seq))
                    out.append(Delivery(delivery_id, load_message(body), attempts + 1))
                conn.executemany("UPDATE queue SET delivery_id = ?, lease_until = ?, attempts = ? WHERE seq = ?",
                                 leased)
                if len(out) >= n:
                    break
            return out, died

        got, died = await self._db.run(job)
        report_dead(died)
        return got or None

    def _reclaim(self, conn: sqlite3.Connection, now: float) -> int:
        """Deliveries whose lease ran out become ready again, at their original place in the lane; those
        delivered `max_attempts` times move to the dead-letter list instead. Returns how many died."""
        died = conn.execute("INSERT INTO dead (seq, lane, body, attempts, died_at) SELECT seq, lane, body, "
                            f"attempts, ? FROM queue WHERE {_EXPIRED} AND attempts >= ?",
                            (now, now, self._max_attempts)).rowcount
        if died:
            conn.execute(f"DELETE FROM queue WHERE {_EXPIRED} AND attempts >= ?", (now, self._max_attempts))
        conn.execute(f"UPDATE queue SET delivery_id = NULL, lease_until = NULL WHERE {_EXPIRED}", (now,))
        return died

    async def ack_many(self, delivery_ids: Sequence[str]) -> list[bool]:
        return await self._per_lease(delivery_ids, "DELETE FROM queue", ())

    async def extend(self, delivery_ids: Sequence[str], seconds: float) -> list[bool]:
        return await self._per_lease(delivery_ids, "UPDATE queue SET lease_until = ? + ?", (seconds,))

    async def _per_lease(self, delivery_ids: Sequence[str], change: str, args: tuple[float, ...]) -> list[bool]:
        """Apply `change` (given `now` and `args`) to each live lease named in `delivery_ids`, in one
        transaction; one bool per id."""
        seqs = [delivery_seq(d) for d in delivery_ids]
        if not any(s is not None for s in seqs):
            return [False] * len(seqs)
        sql = f"{change} WHERE seq = ? AND delivery_id = ? AND lease_until > ?"
        prefix_now = bool(args)

        def job(conn: sqlite3.Connection) -> list[bool]:
            now = time.time()
            head = (now, *args) if prefix_now else ()
            return [seq is not None and conn.execute(sql, (*head, seq, did, now)).rowcount == 1
                    for seq, did in zip(seqs, delivery_ids)]

        return await self._db.run(job)

    async def depth(self) -> dict[str, int]:
        def job(conn: sqlite3.Connection) -> tuple[dict[str, int], int]:
            died = self._reclaim(conn, time.time())
            counts = {LANE_RECALL: 0, LANE_NORMAL: 0, "leased": 0}
            rows = conn.execute("SELECT CASE WHEN delivery_id IS NULL THEN lane ELSE 'leased' END, count(*) "
                                "FROM queue GROUP BY 1").fetchall()
            counts.update({state: n for state, n in rows})
            return counts, died

        counts, died = await self._db.run(job)
        report_dead(died)
        return counts

    # ---- the dead-letter list -----------------------------------------------------------------
    async def dead_count(self) -> int:
        def job(conn: sqlite3.Connection) -> tuple[int, int]:
            died = self._reclaim(conn, time.time())
            return conn.execute("SELECT count(*) FROM dead").fetchone()[0], died

        count, died = await self._db.run(job)
        report_dead(died)
        return count

    async def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        def job(conn: sqlite3.Connection) -> list[tuple[int, str, int, float]]:
            self._reclaim(conn, time.time())
            return conn.execute("SELECT seq, body, attempts, died_at FROM dead ORDER BY died_at, seq LIMIT ?",
                                (max(0, limit),)).fetchall()

        rows = await self._db.run(job)
        return [DeadLetter(str(seq), load_message(body), attempts, int(died_at * 1000))
                for seq, body, attempts, died_at in rows]

    async def retry_dead(self, ids: Sequence[str] | None) -> list[str]:
        found = await self._dead_move(ids, "INSERT INTO queue (seq, lane, body) SELECT seq, lane, body FROM dead "
                                           "WHERE seq = ?")
        if found:
            wake.notify(self._topic)
        return found

    async def drop_dead(self, ids: Sequence[str] | None) -> list[str]:
        return await self._dead_move(ids, "")

    async def _dead_move(self, ids: Sequence[str] | None, copy: str) -> list[str]:
        """Delete the named dead letters (all with None), after running `copy` for each; one transaction."""
        def job(conn: sqlite3.Connection) -> list[str]:
            if ids is None:
                seqs = [row[0] for row in conn.execute("SELECT seq FROM dead ORDER BY seq")]
            else:
                seqs = dead_seqs(ids)
            found = []
            for seq in seqs:
                if copy:
                    conn.execute(copy, (seq,))
                if conn.execute("DELETE FROM dead WHERE seq = ?", (seq,)).rowcount:
                    found.append(str(seq))
            return found

        return await self._db.run(job)

    # ---- meta and housekeeping ----------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        row = await self._db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else row[0]

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    async def ping(self) -> None:
        await self._db.fetchone("SELECT 1")

    async def close(self) -> None:
        await self._db.close()
