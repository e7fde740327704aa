"""Several processes on one store: a gateway process writes, a consumer in another process reads."""

from __future__ import annotations

import asyncio
import sys

from larkdou.store import Queue

WRITER = """
import asyncio, sys
from larkdou.message import Message
from larkdou.store import open_queue

async def main(url, text):
    q = await open_queue(url)
    try:
        ok = await q.enqueue(Message(msg_id="om_" + text, group_id="oc_1", content=text), ["msg:om_" + text])
        print("stored" if ok else "duplicate")
    finally:
        await q.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def run_writer(url: str, text: str) -> str:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, url, text,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode().strip()


async def test_a_waiting_consumer_gets_what_another_process_stored(store_url: str, queue: Queue) -> None:
    waiting = asyncio.create_task(queue.lease(30, wait=30))
    assert await run_writer(store_url, "from-elsewhere") == "stored"
    delivery = await asyncio.wait_for(waiting, 30)
    assert delivery is not None and delivery.message.content == "from-elsewhere"
    # the other process's dedup key is shared too
    assert await run_writer(store_url, "from-elsewhere") == "duplicate"
    assert await queue.depth() == {"recall": 0, "normal": 0, "leased": 1}
