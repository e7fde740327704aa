"""One SQLite file served by one dedicated thread, with group commit.

Every operation is a small function of the connection, submitted from asyncio and run on the thread.
The thread takes whatever has piled up since its last commit and runs it in one transaction (each job
inside its own savepoint, so one failing job does not undo the others), commits once, and only then
answers the callers. So a write is durable when its coroutine returns, while many concurrent writers
share one fsync. The event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from larkdou.errors import StoreError


T = TypeVar("T")
MAX_BATCH = 512  # jobs per transaction
FILE_MODE = 0o600  # the database holds chat messages: owner only (SQLite gives -wal/-shm the same mode)
BUSY_TIMEOUT_MS = 5000  # another process holding the write lock
SWEEP_EVERY = 60.0  # seconds between periodic sweeps of expired rows


class Sweeper:
    """Says when a periodic cleanup is due: at most once per `SWEEP_EVERY` seconds."""

    def __init__(self) -> None:
        self._last = 0.0

    def due(self, now: float) -> bool:
        if now - self._last < SWEEP_EVERY:
            return False
        self._last = now
        return True


@dataclass
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any] = field(repr=False)

    def settle(self, result: Any, error: BaseException | None) -> None:
        def _set() -> None:
            if self.future.done():  # the caller was cancelled; the work is done all the same
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the caller's loop is already closed
            self.loop.call_soon_threadsafe(_set)


def _owner_only(path: str) -> None:
    """Create the database file readable by its owner only, and take group/other access away from
    an existing one (and its -wal/-shm) that has it."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE))
    except OSError as exc:
        raise StoreError(f"sqlite store {path}: cannot create it: {exc.strerror or exc}") from exc
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(OSError):  # absent, or not ours to change
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, FILE_MODE)


def _store_error(exc: BaseException, path: str) -> StoreError:
    return StoreError(f"sqlite store {path}: {exc}")


class SqliteDB:
    """A SQLite file in WAL mode owned by one worker thread. Use `await SqliteDB.open(path, schema)`."""

    def __init__(self, path: str, schema: str,
                 upgrade: Callable[[sqlite3.Connection], None] | None = None) -> None:
        self.path = path
        self._schema = schema
        self._upgrade = upgrade
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._main, name=f"sqlite:{Path(path).name}", daemon=True)
        self._conn: sqlite3.Connection | None = None
        self._ready: _Job | None = None

    @classmethod
    async def open(cls, path: str, schema: str,
                   upgrade: Callable[[sqlite3.Connection], None] | None = None) -> "SqliteDB":
        """Create the parent folder and the file if needed, switch to WAL and apply `schema`, then
        `upgrade(conn)` (brings a file written by an older version up to date)."""
        if not path or path == ":memory:":
            raise StoreError("sqlite store needs a file path, e.g. sqlite:///workdir/gateway.db")
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"sqlite store {path}: cannot create its folder: {exc.strerror or exc}") from exc
        _owner_only(path)
        db = cls(path, schema, upgrade)
        loop = asyncio.get_running_loop()
        db._ready = _Job(lambda _: None, loop, loop.create_future())
        db._thread.start()
        try:
            await db._ready.future
        except sqlite3.Error as exc:
            await db.close()
            raise _store_error(exc, path) from exc
        return db

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL (journal mode is {mode})")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(self._schema)
            if self._upgrade is not None:
                self._upgrade(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the worker thread inside a committed transaction; return its result."""
        if self._closed:
            raise StoreError(f"sqlite store {self.path} is closed")
        loop = asyncio.get_running_loop()
        job = _Job(fn, loop, loop.create_future())
        self._jobs.put(job)
        try:
            return await job.future
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from exc

    async def execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        return await self.run(lambda conn: conn.execute(sql, args).rowcount)

    async def fetchone(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return await self.run(lambda conn: conn.execute(sql, args).fetchone())

    async def fetchall(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return await self.run(lambda conn: conn.execute(sql, args).fetchall())

    async def close(self) -> None:
        """Finish the jobs already submitted, then close the connection and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)

    # -- the worker thread -------------------------------------------------------------------

    def _main(self) -> None:
        assert self._ready is not None
        try:
            self._conn = self._connect()
        except BaseException as exc:  # noqa: BLE001 - handed to `open`
            self._ready.settle(None, exc)
            self._drain_closed()
            return
        self._ready.settle(None, None)
        stopping = False
        while not stopping:
            job = self._jobs.get()
            if job is None:
                break
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            self._run_batch(batch)
        self._conn.close()
        self._drain_closed()

    def _drain_closed(self) -> None:
        while True:  # anything submitted while we were stopping
            try:
                late = self._jobs.get_nowait()
            except queue.Empty:
                break
            if late is not None:
                late.settle(None, StoreError(f"sqlite store {self.path} is closed"))

    def _run_batch(self, batch: list[_Job]) -> None:
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for job in batch:
                job.settle(None, exc)
            return
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        for job in batch:
            try:
                conn.execute("SAVEPOINT job")
                result = job.fn(conn)
                conn.execute("RELEASE job")
                outcomes.append((job, result, None))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                outcomes.append((job, None, exc))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            outcomes = [(job, None, exc) for job, _, _ in outcomes]
        for job, result, error in outcomes:
            job.settle(result, error)
