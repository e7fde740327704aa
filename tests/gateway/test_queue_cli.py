"""`larkdou queue dead|retry|drop` as a user runs them, on both stores."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import tomli_w

from larkdou.store import Queue, open_queue
from tests.factories import FETCH_TOKEN, settings_dict
from tests.store.helpers import enqueue_texts


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "larkdou", *args], capture_output=True, text=True, timeout=60)


def config(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "config.ini"
    path.write_text(tomli_w.dumps(settings_dict(store_url, max_attempts=1)), encoding="utf-8")
    return str(path)


async def park(queue: Queue, *texts: str) -> dict[str, str]:
    """Deliver each message once and let its lease run out: with max_attempts 1 they all die."""
    await enqueue_texts(queue, *texts)
    await queue.lease_many(len(texts), 0.1)
    await asyncio.sleep(0.2)
    return {d.message.content: d.id for d in await queue.dead_letters()}


async def test_list_retry_and_drop_dead_letters(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    empty = run_cli("queue", "dead", "--config", cfg)
    assert empty.returncode == 0 and "empty" in empty.stdout
    queue = await open_queue(store_url, max_attempts=1)
    try:
        ids = await park(queue, "怎么配置 webhook？", "second", "third")
        listed = run_cli("queue", "dead", "--config", cfg)
        assert listed.returncode == 0, listed.stderr
        assert "怎么配置 webhook？" in listed.stdout and "3 dead letter(s)" in listed.stdout
        assert all(i in listed.stdout for i in ids.values())

        retried = run_cli("queue", "retry", ids["second"], "--config", cfg)
        assert retried.returncode == 0 and "1 message(s) back in their lane" in retried.stdout
        back = await queue.lease(30)
        assert back and back.message.content == "second" and back.attempts == 1

        dropped = run_cli("queue", "drop", ids["third"], "--config", cfg)
        assert dropped.returncode == 0 and "1 message(s) dropped" in dropped.stdout
        assert [d.message.content for d in await queue.dead_letters()] == ["怎么配置 webhook？"]

        missing = run_cli("queue", "drop", ids["third"], "--config", cfg)
        assert missing.returncode == 1 and f"not in the dead-letter list: {ids['third']}" in missing.stderr

        everything = run_cli("queue", "retry", "--all", "--config", cfg)
        assert everything.returncode == 0 and "1 message(s) back in their lane" in everything.stdout
        assert await queue.dead_count() == 0
    finally:
        await queue.close()


def test_usage_mistakes_get_a_clear_message_and_no_traceback(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    for args, needle in ((["retry"], "--all"), (["drop", "1", "--all"], "not both"),
                         (["retry", "abc"], "not a dead-letter ID")):
        r = run_cli("queue", *args, "--config", cfg)
        assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr
    unreachable = tmp_path / "down.ini"
    unreachable.write_text(tomli_w.dumps(settings_dict("redis://127.0.0.1:1/0")), encoding="utf-8")
    r = run_cli("queue", "dead", "--config", str(unreachable))
    assert r.returncode == 2 and "unreachable" in r.stderr and "Traceback" not in r.stderr
    assert FETCH_TOKEN not in r.stderr + r.stdout
