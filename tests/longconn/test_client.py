"""The official lark-oapi ws client against the sandbox's long-connection side, feeding real queues."""

from __future__ import annotations

import json

from larkdou.store import open_queue
from larkdou.store.base import Delivery, Queue
from tests.longconn.conftest import eventually, lc_settings, open_longconn, open_sandbox


async def fetch(queue: Queue, wait: float = 0.2) -> Delivery | None:
    delivery = await queue.lease(30, wait=wait)
    if delivery is not None:
        await queue.ack(delivery.delivery_id)
    return delivery


async def drain(queue: Queue) -> list[Delivery]:
    out = []
    while (d := await fetch(queue, wait=0)) is not None:
        out.append(d)
    return out


async def test_a_message_said_in_the_chat_arrives_in_the_queue_and_lark_sees_the_ack(settings, tmp_path, caplog):
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        async with open_sandbox(settings) as sandbox, open_longconn(settings, queue) as conn:
            msg_id = await sandbox.say("oc_chat1", "长连接收到了吗？", user="alice")
            got = await eventually(lambda: fetch(queue))
            assert (got.message.msg_id, got.message.group_id, got.message.content) == \
                (msg_id, "oc_chat1", "长连接收到了吗？")
            assert got.message.event_id  # the event's own id travels with it, for dedup
            [delivery] = await eventually(lambda: sandbox.deliveries(msg_id))  # recorded once acked
            assert delivery["url"].startswith("longconn:") and delivery["status"] == 200
            assert conn.status()["events"] == 1
            assert await fetch(queue) is None  # once
    finally:
        await queue.close()
    assert settings.secret(settings.lark_group.app_secret) not in caplog.text
    assert "ticket=" not in caplog.text  # the connect URL's ticket stays out of the logs


async def test_a_large_event_comes_in_fragments_and_is_put_back_together(settings, tmp_path):
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    text = "".join(f"第{i}段：长连接把大事件分片发送，客户端按序号拼回。" for i in range(200))
    try:
        async with open_sandbox(settings) as sandbox, open_longconn(settings, queue):
            await sandbox.longconn(fragment_size=512)
            msg_id = await sandbox.say("oc_chat1", text)
            got = await eventually(lambda: fetch(queue))
            assert got.message.msg_id == msg_id and got.message.content == text
            [delivery] = await eventually(lambda: sandbox.deliveries(msg_id))
            assert delivery["status"] == 200
            [client] = await sandbox.clients()
            assert client["events"] == 1 and client["acks"] == {"200": 1}
    finally:
        await queue.close()


async def test_each_event_goes_to_exactly_one_of_two_clients(settings, tmp_path):
    queues = [await open_queue(f"sqlite:///{tmp_path / f'q{i}.db'}") for i in range(2)]
    try:
        async with open_sandbox(settings) as sandbox, \
                open_longconn(settings, queues[0]), open_longconn(settings, queues[1]):
            assert len(await sandbox.clients()) == 2
            sent = [await sandbox.say("oc_chat1", f"问题 {i}？") for i in range(24)]

            async def all_acked() -> bool:
                statuses = [[d["status"] for d in await sandbox.deliveries(m)] for m in sent]
                return all(s == [200] for s in statuses)

            await eventually(all_acked)
            received = [[d.message.msg_id for d in await drain(q)] for q in queues]
    finally:
        for q in queues:
            await q.close()
    assert sorted(received[0] + received[1]) == sorted(sent)  # each once, none lost
    assert received[0] and received[1]  # shared at random (all 24 to one: p = 2^-23)


async def test_after_the_server_drops_the_connection_the_client_reconnects_and_nothing_is_lost(
        settings, tmp_path):
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        async with open_sandbox(settings) as sandbox, open_longconn(settings, queue) as conn:
            await sandbox.tune(retry_scale=0.1)  # Lark's retries after 15 s, 5 min … become 1.5 s, 30 s …
            await sandbox.longconn(accept=False)  # an outage: discovery answers "system busy"
            assert (await sandbox.http.post("/sandbox/longconn/drop")).json() == {"dropped": 1}
            await eventually(lambda: _is(conn.status()["state"], "reconnecting"))
            assert conn.metrics.connected._value.get() == 0
            during = await sandbox.say("oc_chat1", "断线时说的话")
            await sandbox.longconn(accept=True)
            await eventually(lambda: _is(conn.connected, True))
            got = await eventually(lambda: fetch(queue))
            assert got.message.msg_id == during
            status = conn.status()
            assert (status["disconnects"], status["reconnects"]) == (1, 1)
            after = await sandbox.say("oc_chat1", "重连后说的话")
            assert (await eventually(lambda: fetch(queue))).message.msg_id == after
    finally:
        await queue.close()


async def test_stopping_closes_the_connection_and_events_fall_back_to_the_webhook(settings, tmp_path):
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        async with open_sandbox(settings) as sandbox:
            async with open_longconn(settings, queue) as conn:
                assert len(await sandbox.clients()) == 1
            assert conn.status()["state"] == "stopped" and not conn.connected
            await eventually(lambda: _empty(sandbox.clients()))
            msg_id = await sandbox.say("oc_chat1", "没人连着")
            [delivery] = await eventually(lambda: sandbox.deliveries(msg_id))
            assert delivery["url"].endswith("/event")  # pushed to the callback URL instead
    finally:
        await queue.close()


async def test_wrong_app_secret_stops_with_a_clear_error_that_hides_the_secret(tmp_path, caplog):
    good = lc_settings(tmp_path)
    bad = lc_settings(tmp_path)
    bad.sandbox.port = good.sandbox.port
    bad.lark.domain = good.lark.domain
    bad.frontend.lark_group.app_secret = "wrong-secret-value"
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        async with open_sandbox(good) as sandbox, open_longconn(bad, queue, wait=False) as conn:
            await eventually(lambda: _is(conn.status()["state"], "failed"))
            assert "invalid app_id or app_secret" in conn.status()["last_error"]
            assert await sandbox.clients() == []
    finally:
        await queue.close()
    assert "wrong-secret-value" not in caplog.text
    assert "wrong-secret-value" not in json.dumps(conn.status())


async def test_discovery_with_a_bad_body_gets_a_400_with_a_reason(settings):
    async with open_sandbox(settings) as sandbox:
        r = await sandbox.http.post("/callback/ws/endpoint", content=b"not json")
        assert r.status_code == 400 and "AppID" in r.json()["msg"]
        r = await sandbox.http.post("/sandbox/longconn/settings", json={"ping_interval": "soon"})
        assert r.status_code == 400 and "ping_interval" in r.json()["error"]
        assert (await sandbox.http.get("/sandbox/longconn")).json()["settings"]["ping_interval"] == 30


async def test_a_websocket_without_a_valid_ticket_is_refused(settings):
    async with open_sandbox(settings) as sandbox:
        ws_url = sandbox.url.replace("http://", "ws://") + "/ws/v2?device_id=x&service_id=1&ticket=forged"
        import websockets

        try:
            async with websockets.connect(ws_url):
                raise AssertionError("a forged ticket was accepted")
        except websockets.InvalidStatus as exc:
            assert exc.response.headers["handshake-status"] == "514"
        assert await sandbox.clients() == []


async def _is(value: object, expected: object) -> bool:
    return value == expected


async def _empty(coro) -> bool:  # type: ignore[no-untyped-def]
    return not await coro


async def test_a_connection_started_before_lark_is_reachable_connects_once_it_is(settings, tmp_path):
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        async with open_longconn(settings, queue, wait=False) as conn:
            await eventually(lambda: _is(conn.status()["state"], "reconnecting"))
            assert conn.status()["last_error"]  # why it is not connected yet
            async with open_sandbox(settings) as sandbox:
                await eventually(lambda: _is(conn.connected, True))
                msg_id = await sandbox.say("oc_chat1", "终于连上了")
                assert (await eventually(lambda: fetch(queue))).message.msg_id == msg_id
    finally:
        await queue.close()


async def test_the_client_pings_on_the_interval_the_server_sets_and_stays_connected(settings, tmp_path):
    queue = await open_queue(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        async with open_sandbox(settings) as sandbox:
            await sandbox.longconn(ping_interval=1)  # handed out at discovery, repeated in every pong
            async with open_longconn(settings, queue) as conn:
                async def pinged_thrice() -> bool:
                    return [c["pings"] >= 3 for c in await sandbox.clients()] == [True]

                await eventually(pinged_thrice)
                assert conn.connected and conn.status()["disconnects"] == 0
    finally:
        await queue.close()
