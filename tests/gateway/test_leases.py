"""/fetch?max=N, batch /ack, /extend and the dead-letter gauge, over real HTTP on both stores."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from larkdou.config import build_settings
from larkdou.gateway.app import create_app
from larkdou.serving import serving
from tests.factories import FETCH_TOKEN, message_event, settings_dict, signed_request

AUTH = {"Authorization": f"Bearer {FETCH_TOKEN}"}


@pytest.fixture
async def gateway(store_url):
    settings = build_settings(settings_dict(store_url, max_attempts=2, lease_seconds=30), env={})
    async with serving(create_app(settings)) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield client


async def say(client: httpx.AsyncClient, *texts: str) -> None:
    for text in texts:
        body, headers = signed_request(message_event(text, chat_id="oc_batch", message_id=f"om_{text}"))
        assert (await client.post("/event", content=body, headers=headers)).status_code == 200


async def post(client: httpx.AsyncClient, path: str, status: int = 200, **kw) -> dict:
    r = await client.post(path, headers=AUTH, **kw)
    assert r.status_code == status, r.text
    return r.json()


async def test_fetch_max_returns_a_batch_with_the_single_forms_keys(gateway):
    await say(gateway, "1", "2", "豆哥撤回", "3")
    got = await post(gateway, "/fetch", params={"max": "3"})
    assert [m["content"] for m in got["messages"]] == ["豆哥撤回", "1", "2"]
    for m in got["messages"]:
        for key in ("source", "msg_id", "user_id", "content", "group_id", "msg_time", "delivery_id", "attempts"):
            assert key in m
    single = await post(gateway, "/fetch")  # without max: the guide's single message, as before
    assert single["content"] == "3" and "messages" not in single
    assert await post(gateway, "/fetch", params={"max": "5"}) == {"messages": []}
    assert await post(gateway, "/fetch") == {}


@pytest.mark.parametrize("value", ["0", "-1", "1001", "abc", "2.5", ""])
async def test_fetch_max_out_of_range_is_refused_and_leases_nothing(gateway, value):
    await say(gateway, "kept")
    r = await gateway.post("/fetch", headers=AUTH, params={"max": value})
    assert r.status_code == 400 and r.json()["error"] == "bad_max"
    assert (await post(gateway, "/fetch"))["content"] == "kept"


async def test_batch_ack_answers_per_id(gateway):
    await say(gateway, "a", "b")
    a, b = (await post(gateway, "/fetch", params={"max": "2"}))["messages"]
    answer = await post(gateway, "/ack", json={"delivery_ids": [a["delivery_id"], "junk", b["delivery_id"]]})
    assert answer == {"acked": [True, False, True]}
    assert await post(gateway, "/ack", json={"delivery_id": a["delivery_id"]}) == {"acked": False}
    assert (await gateway.get("/healthz")).json()["depth"] == {"recall": 0, "normal": 0, "leased": 0}


@pytest.mark.parametrize("body", [
    {"delivery_ids": []}, {"delivery_ids": "x"}, {"delivery_ids": ["ok", 5]}, {"delivery_ids": [""]},
    {"delivery_id": "x", "delivery_ids": ["y"]}, {"delivery_ids": ["x"] * 1001}, [1, 2],
])
async def test_bad_ack_bodies_are_refused_and_change_nothing(gateway, body):
    await say(gateway, "held")
    held = await post(gateway, "/fetch")
    if isinstance(body, dict) and body.get("delivery_ids") == ["ok", 5]:
        body = {"delivery_ids": [held["delivery_id"], 5]}
    r = await gateway.post("/ack", headers=AUTH, json=body)
    assert r.status_code == 400 and r.json()["error"] in ("bad_fields", "missing_fields", "not_json")
    assert (await gateway.get("/healthz")).json()["depth"]["leased"] == 1


async def test_extend_keeps_a_lease_past_its_end(gateway):
    await say(gateway, "long answer")
    held = await post(gateway, "/fetch", params={"lease": "0.5"})
    for _ in range(3):
        await asyncio.sleep(0.3)
        assert await post(gateway, "/extend", json={"delivery_id": held["delivery_id"], "seconds": 0.5}) == {
            "extended": True}
    assert await post(gateway, "/fetch", params={"wait": "0.3"}) == {}  # not delivered to anyone else
    assert await post(gateway, "/ack", json={"delivery_id": held["delivery_id"]}) == {"acked": True}
    metrics = (await gateway.get("/metrics")).text
    assert 'larkdou_gateway_extends_total{result="extended"} 3.0' in metrics


async def test_extend_answers_per_id_and_refuses_bad_input(gateway):
    await say(gateway, "x")
    held = await post(gateway, "/fetch")
    both = await post(gateway, "/extend", json={"delivery_ids": [held["delivery_id"], "9.0123456789abcdef"]})
    assert both == {"extended": [True, False]}
    for body in ({"delivery_id": held["delivery_id"], "seconds": 0}, {"delivery_id": held["delivery_id"],
                 "seconds": "10"}, {"delivery_id": held["delivery_id"], "seconds": 1e9}, {"seconds": 10}):
        r = await gateway.post("/extend", headers=AUTH, json=body)
        assert r.status_code == 400 and r.json()["error"] in ("bad_seconds", "missing_fields")
    assert (await gateway.post("/extend", json={"delivery_id": held["delivery_id"]})).status_code == 401


async def test_a_message_never_acked_ends_in_the_dead_letter_gauge(gateway):
    await say(gateway, "poison")
    for attempt in (1, 2):
        got = await post(gateway, "/fetch", params={"lease": "0.2", "wait": "3"})
        assert got["content"] == "poison" and got["attempts"] == attempt
    await asyncio.sleep(0.3)
    assert await post(gateway, "/fetch", params={"wait": "0.3"}) == {}
    assert "larkdou_gateway_dead_letters 1.0" in (await gateway.get("/metrics")).text


async def test_a_long_poll_whose_client_left_holds_nothing_back(gateway):
    # an assistant stopping (a rolling restart) drops its long-poll; the next message must go to the
    # next fetch at once, not sit leased to the gone client until the lease (30 s here) runs out
    gone = asyncio.create_task(gateway.post("/fetch", headers=AUTH, params={"wait": "20"}))
    await asyncio.sleep(0.3)  # the long-poll is waiting in the gateway
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    await asyncio.sleep(0.3)
    await say(gateway, "豆哥撤回")
    got = await post(gateway, "/fetch", params={"wait": "5"})
    assert got["content"] == "豆哥撤回" and got["attempts"] == 1
    metrics = (await gateway.get("/metrics")).text
    assert 'larkdou_gateway_fetches_total{result="abandoned"} 1.0' in metrics
