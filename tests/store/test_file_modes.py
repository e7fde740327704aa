"""SQLite stores hold chat messages: their files are readable by their owner only."""

from __future__ import annotations

import os
import stat

from larkdou.message import Message
from larkdou.store import open_ledger, open_queue


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


async def test_queue_and_ledger_files_are_created_owner_only(tmp_path):
    old = os.umask(0o022)  # a usual umask would give 0644
    try:
        queue = await open_queue(f"sqlite:///{tmp_path / 'gw.db'}")
        ledger = await open_ledger(f"sqlite:///{tmp_path / 'as.db'}")
        await queue.enqueue(Message(msg_id="om_1", group_id="oc_1", content="hi"), ["msg:om_1"])
        files = [tmp_path / n for n in ("gw.db", "gw.db-wal", "gw.db-shm", "as.db", "as.db-wal", "as.db-shm")]
        present = [f for f in files if f.exists()]
        assert {f.name for f in present} >= {"gw.db", "gw.db-wal", "as.db"}
        assert {f.name: _mode(f) for f in present} == {f.name: 0o600 for f in present}
        await queue.close()
        await ledger.close()
    finally:
        os.umask(old)


async def test_an_existing_world_readable_file_is_tightened(tmp_path):
    path = tmp_path / "old.db"
    queue = await open_queue(f"sqlite:///{path}")
    await queue.close()
    os.chmod(path, 0o644)
    queue = await open_queue(f"sqlite:///{path}")
    try:
        assert _mode(path) == 0o600
    finally:
        await queue.close()
