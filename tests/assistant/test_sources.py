"""The assistant's message sources against a real gateway on loopback (and the local queue)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from larkdou.assistant.sources import HttpSource, QueueSource, ack_url_for
from larkdou.config import build_settings
from larkdou.gateway.app import create_app
from larkdou.serving import serving
from larkdou.store import open_queue
from tests.conftest import free_port
from tests.factories import FETCH_TOKEN, message_event, settings_dict, signed_request


def gateway_settings(store_url: str, port: int, token: str = FETCH_TOKEN):
    data = settings_dict(store_url)
    data["frontend"]["webhook_url"] = f"http://127.0.0.1:{port}/fetch"
    data["gateway"]["fetch_token"] = token
    return build_settings(data, env={})


async def push(url: str, text: str, **kw) -> None:
    body, headers = signed_request(message_event(text, **kw))
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{url}/event", content=body, headers=headers)).status_code == 200


def test_ack_url_sits_beside_fetch():
    assert ack_url_for("http://10.0.0.1:6666/fetch") == "http://10.0.0.1:6666/ack"
    assert ack_url_for("https://gw.example.com/lark/fetch?x=1") == "https://gw.example.com/lark/ack"


async def test_fetch_then_ack_removes_the_message(store_url):
    port = free_port()
    settings = gateway_settings(store_url, port)
    async with serving(create_app(settings), port=port) as url:
        await push(url, "第一条", message_id="om_first", chat_id="oc_a")
        source = HttpSource(settings, wait=0.2)
        try:
            got = await source.next()
            assert got is not None and got.message.msg_id == "om_first" and got.message.content == "第一条"
            assert await source.ack(got.delivery_id) is True
            assert await source.next() is None
            assert await source.ack(got.delivery_id) is False  # acking twice changes nothing
        finally:
            await source.aclose()


async def test_unacked_message_comes_back_after_the_lease(tmp_path):
    port = free_port()
    settings = gateway_settings(f"sqlite:///{tmp_path / 'q.db'}", port)
    async with serving(create_app(settings), port=port) as url:
        await push(url, "hello", message_id="om_lost")
        source = HttpSource(settings, wait=0.1, lease=0.3)
        try:
            first = await source.next()
            assert first is not None
            again = None
            for _ in range(50):
                again = await source.next()
                if again is not None:
                    break
            assert again is not None and again.message.msg_id == "om_lost"
            assert again.delivery_id != first.delivery_id and again.attempts == 2
        finally:
            await source.aclose()


async def test_gateway_down_at_start_is_waited_for(tmp_path):
    port = free_port()
    settings = gateway_settings(f"sqlite:///{tmp_path / 'q.db'}", port)
    source = HttpSource(settings, wait=0.2)
    pending = asyncio.create_task(source.next())
    await asyncio.sleep(0.5)
    assert not pending.done()  # still trying, not failed
    try:
        async with serving(create_app(settings), port=port) as url:
            await push(url, "after the outage", message_id="om_late")
            got = await asyncio.wait_for(pending, 30)
            assert got is not None and got.message.msg_id == "om_late"
    finally:
        pending.cancel()
        await source.aclose()


async def test_wrong_fetch_token_is_logged_without_the_token(tmp_path, caplog):
    port = free_port()
    store = f"sqlite:///{tmp_path / 'q.db'}"
    wrong = gateway_settings(store, port, token="not-the-right-token-1234")
    async with serving(create_app(gateway_settings(store, port)), port=port) as url:
        await push(url, "kept", message_id="om_kept")
        source = HttpSource(wrong, wait=0.1)
        caplog.set_level(logging.WARNING)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(source.next(), 1.0)
        await source.aclose()
        assert "fetch_token" in caplog.text
        assert "not-the-right-token-1234" not in caplog.text and FETCH_TOKEN not in caplog.text
        right = HttpSource(gateway_settings(store, port), wait=0.1)
        got = await right.next()
        await right.aclose()
        assert got is not None and got.message.msg_id == "om_kept"  # nothing was lost


async def test_queue_source_reads_the_local_store(store_url):
    from larkdou.message import Message

    queue = await open_queue(store_url)
    try:
        await queue.enqueue(Message(msg_id="om_1", group_id="oc_a", content="1"), ["msg:om_1"])
        await queue.enqueue(Message(msg_id="om_r", group_id="oc_a", content="豆哥撤回", is_recall=True),
                            ["msg:om_r"])
        source = QueueSource(queue, wait=0.1, lease=30)
        first = await source.next()
        assert first is not None and first.message.msg_id == "om_r"  # the recall lane first
        assert await source.ack(first.delivery_id)
        second = await source.next()
        assert second is not None and second.message.msg_id == "om_1"
    finally:
        await queue.close()
