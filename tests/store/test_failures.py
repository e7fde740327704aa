"""A store that cannot be reached or used gives StoreError (never a driver exception, never a secret)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from larkdou.errors import ConfigError, StoreError
from larkdou.store import SentMessage, open_ledger, open_queue
from tests.conftest import free_port
from tests.store.helpers import enqueue_texts, keys, msg


@pytest.mark.parametrize("opener", [open_queue, open_ledger])
async def test_unreachable_redis_is_a_store_error_without_the_password(opener: Callable[..., Awaitable[Any]]) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreError) as caught:
        await opener(url)
    assert "hunter2-secret" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


async def test_a_malformed_redis_url_is_a_config_error() -> None:
    for url in ("redis://127.0.0.1:not-a-port/0", f"redis://127.0.0.1:{free_port()}/not-a-db"):
        with pytest.raises(ConfigError):
            await open_queue(url)


async def test_redis_going_away_turns_every_call_into_a_store_error(own_redis, tmp_path: Path) -> None:
    url = f"{own_redis.url}/0"
    queue, ledger = await open_queue(url), await open_ledger(url)
    try:
        await enqueue_texts(queue, "before")
        delivery = await queue.lease(30)
        assert delivery is not None
        own_redis.kill()

        m = msg("during")
        calls: list[Awaitable[Any]] = [
            queue.enqueue(m, keys(m)), queue.lease(30), queue.lease(30, wait=1), queue.ack(delivery.delivery_id),
            queue.depth(), queue.get_meta("k"), queue.set_meta("k", "v"), queue.ping(),
            ledger.record_sent(SentMessage("om_b", "oc_1")), ledger.sent_in_chat("oc_1"),
            ledger.sent_for_source("om_q"), ledger.mark_recalled("om_b"), ledger.set_recall_mark("oc_1", 1),
            ledger.recall_mark("oc_1"), ledger.ping(),
        ]
        for call in calls:
            with pytest.raises(StoreError):
                await call

        own_redis.start()  # back again (empty): the same objects work without reopening
        assert await queue.enqueue(m, keys(m))
        assert (await queue.lease(30, wait=1)).message.content == "during"
        await ledger.ping()
    finally:
        await queue.close()
        await ledger.close()


def unusable_paths(tmp_path: Path) -> list[str]:
    a_file = tmp_path / "plain-file"
    a_file.write_text("not a folder")
    a_folder = tmp_path / "folder.db"
    a_folder.mkdir()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database file" * 200)
    return [str(a_file / "store.db"), str(a_folder), str(garbage)]


@pytest.mark.parametrize("opener", [open_queue, open_ledger])
async def test_an_unusable_sqlite_path_is_a_store_error(opener: Callable[..., Awaitable[Any]], tmp_path: Path) -> None:
    for path in unusable_paths(tmp_path):
        with pytest.raises(StoreError) as caught:
            await opener(f"sqlite:///{path}")
        assert path in str(caught.value)


async def test_sqlite_creates_its_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "work" / "dir" / "gateway.db"
    queue = await open_queue(f"sqlite:///{path}")
    try:
        await enqueue_texts(queue, "hello")
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT count(*) FROM queue").fetchone()[0] == 1
    finally:
        await queue.close()


async def test_a_closed_sqlite_store_refuses_calls(tmp_path: Path) -> None:
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    await queue.close()
    with pytest.raises(StoreError):
        await enqueue_texts(queue, "too late")
    with pytest.raises(StoreError):
        await queue.ping()
    await queue.close()  # closing twice is harmless
