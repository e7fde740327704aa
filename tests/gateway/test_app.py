"""The gateway over real HTTP on loopback, against both store backends."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from larkdou.config import build_settings
from larkdou.gateway.app import create_app
from larkdou.serving import serving
from larkdou.store import open_queue
from tests.conftest import free_port
from tests.rawhttp import raw_request
from tests.factories import (BOT_OPEN_ID, ENCRYPT_KEY, FETCH_TOKEN, VERIFICATION_TOKEN, bot_mention,
                             message_event, settings_dict, signed_request)

AUTH = {"Authorization": f"Bearer {FETCH_TOKEN}"}
SECRETS = [ENCRYPT_KEY, VERIFICATION_TOKEN, FETCH_TOKEN, "test-app-secret"]


def make_settings(store_url: str, **kw):
    lg = kw.pop("lark_group", {})
    data = settings_dict(store_url, **kw)
    data["frontend"]["lark_group"].update(lg)
    return build_settings(data, env={})


@pytest.fixture
async def gateway(store_url):
    async with serving(create_app(make_settings(store_url))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield client


async def post_event(client, payload, **kw):
    body, headers = signed_request(payload, **kw)
    return await client.post("/event", content=body, headers=headers)


async def fetch(client, **params):
    r = await client.post("/fetch", headers=AUTH, params=params)
    assert r.status_code == 200
    return r.json()


async def depth(client) -> dict:
    return (await client.get("/healthz")).json()["depth"]


async def test_url_challenge_encrypted(gateway):
    r = await post_event(gateway, {"challenge": "abc123", "token": VERIFICATION_TOKEN, "type": "url_verification"},
                         sign=False)
    assert r.status_code == 200 and r.json() == {"challenge": "abc123"}


async def test_message_is_stored_and_fetched_with_the_guides_keys(gateway):
    r = await post_event(gateway, message_event("@_user_1 怎么配置 encrypt key?", message_id="om_a", chat_id="oc_g",
                                                mentions=[bot_mention()], create_time_ms=1700000000000))
    assert r.status_code == 200
    got = await fetch(gateway)
    for key in ("source", "msg_id", "user_id", "content", "group_id", "msg_time", "event_id", "chat_type",
                "message_type", "mentions", "mentioned_bot", "is_recall", "root_id", "delivery_id"):
        assert key in got, key
    assert got["msg_id"] == "om_a" and got["group_id"] == "oc_g" and got["content"] == "@豆哥 怎么配置 encrypt key?"
    assert got["source"] == "lark_group" and got["msg_time"] == 1700000000000 and got["is_recall"] is False
    assert await fetch(gateway) == {}


async def test_guide_ordering_recall_first(gateway):
    for text in ["1", "2", "3", "豆哥撤回"]:
        assert (await post_event(gateway, message_event(text, chat_id="oc_order"))).status_code == 200
    order = [(await fetch(gateway))["content"] for _ in range(4)]
    assert order == ["豆哥撤回", "1", "2", "3"]


async def test_duplicates_by_message_id_or_event_id_are_not_stored_twice(gateway):
    event = message_event("once", message_id="om_dup", event_id="ev_dup")
    assert (await post_event(gateway, event)).status_code == 200
    assert (await post_event(gateway, event)).status_code == 200  # Lark's retry: same event
    again = message_event("once", message_id="om_dup", event_id="ev_other")  # reconnect backfill
    assert (await post_event(gateway, again)).status_code == 200
    other = message_event("once", message_id="om_other", event_id="ev_dup")
    assert (await post_event(gateway, other)).status_code == 200
    assert (await fetch(gateway))["msg_id"] == "om_dup"
    assert await fetch(gateway) == {}
    metrics = (await gateway.get("/metrics")).text
    assert "larkdou_gateway_duplicates_total 3.0" in metrics


async def test_other_event_types_are_ignored_and_counted(gateway):
    payload = message_event("x")
    payload["header"]["event_type"] = "im.message.reaction.created_v1"
    r = await post_event(gateway, payload)
    assert r.status_code == 200
    assert await fetch(gateway) == {}
    assert 'larkdou_gateway_ignored_total{event_type="im.message.reaction.created_v1"} 1.0' in (
        await gateway.get("/metrics")).text


def _tampered():
    body, headers = signed_request(message_event("x"))
    return body[:-3] + b'A"}', headers


def _unsigned():
    return signed_request(message_event("x"), sign=False)


def _wrong_token():
    return signed_request(message_event("x", token="wrong-token"))


def _signed(body: bytes, ts: int | None = None):
    import time
    from larkdou.lark import crypto
    ts_s = str(int(time.time()) if ts is None else ts)
    return body, {"X-Lark-Request-Timestamp": ts_s, "X-Lark-Request-Nonce": "n",
                  "X-Lark-Signature": crypto.signature(ts_s, "n", ENCRYPT_KEY, body)}


def _undecryptable():
    return _signed(json.dumps({"encrypt": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="}).encode())


def _not_json():
    return b"{not json", {}


def _deeply_nested():
    return b"[" * 1000, {}


def _replayed_after_the_window():
    import time
    return signed_request(message_event("x"), timestamp=int(time.time()) - 13 * 3600)


def _missing_fields():
    payload = message_event("x")
    del payload["event"]["message"]["chat_id"]
    return signed_request(payload)


def _too_large():
    return signed_request(message_event("x" * (1024 * 1024 + 10)))


UNAUTHENTICATED = {"error": "unauthorized", "message": "request not authenticated"}


@pytest.mark.parametrize("make,logged", [
    (_not_json, "not_json"),
    (_deeply_nested, "not_json"),
    (_wrong_token, "bad_token"),
    (_tampered, "bad_signature"),
    (_unsigned, "missing_signature"),
    (_undecryptable, "undecryptable"),
    (_replayed_after_the_window, "stale_timestamp"),
])
async def test_every_authentication_failure_gets_the_same_answer(gateway, caplog, make, logged):
    body, headers = make()
    with caplog.at_level(logging.WARNING, logger="larkdou"):
        r = await gateway.post("/event", content=body, headers=headers)
    assert r.status_code == 401 and r.json() == UNAUTHENTICATED
    assert await depth(gateway) == {"recall": 0, "normal": 0, "leased": 0}
    lines = [rec.getMessage() for rec in caplog.records if rec.name.startswith("larkdou")]
    assert len(lines) == 1 and logged in lines[0]  # the operator's log says why; the client never does
    assert not any("Traceback" in l or any(s in l for s in SECRETS) for l in lines)
    assert 'larkdou_gateway_rejected_total{reason="unauthenticated"} 1.0' in (await gateway.get("/metrics")).text


async def test_bad_padding_and_good_padding_get_the_same_answer(gateway):
    """An unsigned request is decrypted only to recognise the URL challenge: whether its padding
    was right must not show (no padding oracle)."""
    import base64
    from larkdou.lark import crypto
    good = crypto.encrypt(ENCRYPT_KEY, b"padding fine, not JSON")
    raw = bytearray(base64.b64decode(good))
    raw[-17] ^= 0x01  # the last plaintext byte, i.e. the padding
    bad = base64.b64encode(bytes(raw)).decode()
    answers = []
    for value in (good, bad):
        r = await gateway.post("/event", content=json.dumps({"encrypt": value}))
        answers.append((r.status_code, r.content, r.headers["content-type"]))
    assert answers[0] == answers[1] and answers[0][0] == 401


async def test_an_old_signed_request_replayed_is_refused(gateway):
    import time
    event = message_event("said long ago", message_id="om_old")
    body, headers = signed_request(event, timestamp=int(time.time()) - 12 * 3600 - 60)  # past dedup_hours
    r = await gateway.post("/event", content=body, headers=headers)
    assert r.status_code == 401 and r.json() == UNAUTHENTICATED
    assert await fetch(gateway) == {}
    fresh_body, fresh_headers = signed_request(event, timestamp=int(time.time()) - 7 * 3600)  # Lark's late retry
    assert (await gateway.post("/event", content=fresh_body, headers=fresh_headers)).status_code == 200
    assert (await fetch(gateway))["msg_id"] == "om_old"


@pytest.mark.parametrize("make,status,reason", [
    (_missing_fields, 400, "missing_fields"),
    (_too_large, 413, "too_large"),
])
async def test_bad_input_gets_a_clear_4xx_and_stores_nothing(gateway, caplog, make, status, reason):
    body, headers = make()
    with caplog.at_level(logging.WARNING, logger="larkdou"):
        r = await gateway.post("/event", content=body, headers=headers)
    assert r.status_code == status
    assert r.json()["error"] == reason and r.json()["message"]
    assert await depth(gateway) == {"recall": 0, "normal": 0, "leased": 0}
    lines = [rec.getMessage() for rec in caplog.records if rec.name.startswith("larkdou")]
    assert len(lines) == 1 and reason in lines[0]
    assert not any("Traceback" in l or any(s in l for s in SECRETS) for l in lines)
    assert f'larkdou_gateway_rejected_total{{reason="{reason}"}} 1.0' in (await gateway.get("/metrics")).text


async def test_fetch_needs_the_bearer_token(gateway):
    assert (await gateway.post("/fetch")).status_code == 401
    assert (await gateway.post("/fetch", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await gateway.post("/ack", json={"delivery_id": "x"})).status_code == 401


async def test_fetch_recall_lane_only(gateway):
    for text in ["1", "豆哥撤回"]:
        await post_event(gateway, message_event(text, chat_id="oc_lane"))
    assert (await fetch(gateway, lane="recall"))["content"] == "豆哥撤回"
    assert await fetch(gateway, lane="recall") == {}
    assert (await fetch(gateway))["content"] == "1"


@pytest.mark.parametrize("params", [{"wait": "abc"}, {"wait": "-1"}, {"wait": "9999"}, {"lease": "0"},
                                    {"lane": "normal"}])
async def test_fetch_bad_parameters(gateway, params):
    r = await gateway.post("/fetch", headers=AUTH, params=params)
    assert r.status_code == 400 and r.json()["error"].startswith("bad_")


@pytest.mark.parametrize("body", [b"nope", b"{}", b'{"delivery_id": 5}', b"[" * 60000])
async def test_ack_bad_body(gateway, body):
    r = await gateway.post("/ack", headers=AUTH, content=body)
    assert r.status_code == 400


async def test_unacked_message_is_delivered_again_after_its_lease(gateway):
    await post_event(gateway, message_event("lease me", message_id="om_lease"))
    first = await fetch(gateway, lease="0.2")
    assert first["msg_id"] == "om_lease" and first["attempts"] == 1
    second = await fetch(gateway, wait="3")
    assert second["msg_id"] == "om_lease" and second["attempts"] == 2
    assert second["delivery_id"] != first["delivery_id"]
    stale = await gateway.post("/ack", headers=AUTH, json={"delivery_id": first["delivery_id"]})
    assert stale.json() == {"acked": False}
    ok = await gateway.post("/ack", headers=AUTH, json={"delivery_id": second["delivery_id"]})
    assert ok.json() == {"acked": True}
    assert await fetch(gateway, wait="0.5") == {}


async def test_long_poll_returns_a_message_posted_while_waiting(gateway):
    import asyncio

    waiter = asyncio.create_task(fetch(gateway, wait="5"))
    await asyncio.sleep(0.2)
    await post_event(gateway, message_event("late", message_id="om_late"))
    assert (await waiter)["msg_id"] == "om_late"


async def test_dedup_survives_a_gateway_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    event = message_event("persist", message_id="om_persist")
    for _ in range(2):
        async with serving(create_app(make_settings(url))) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                assert (await post_event(client, event)).status_code == 200
    async with serving(create_app(make_settings(url))) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await fetch(client))["msg_id"] == "om_persist"
            assert await fetch(client) == {}


async def test_dedup_survives_a_gateway_restart_on_redis(redis_url):
    event = message_event("persist", message_id="om_persist_r")
    for _ in range(2):
        async with serving(create_app(make_settings(redis_url))) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                assert (await post_event(client, event)).status_code == 200
    queue = await open_queue(redis_url)
    try:
        assert (await queue.depth())["normal"] == 1
    finally:
        await queue.close()


async def test_unreachable_store_gives_503_so_lark_retries():
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with serving(create_app(make_settings(dead))) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            r = await post_event(client, message_event("x"))
            assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
            assert (await client.get("/healthz")).status_code == 503
            assert (await client.post("/fetch", headers=AUTH)).status_code == 503
            challenge = await post_event(client, {"challenge": "c", "token": VERIFICATION_TOKEN,
                                                  "type": "url_verification"}, sign=False)
            assert challenge.json() == {"challenge": "c"}  # the console check works before the store does


async def test_mentioned_bot_from_configured_open_id(store_url):
    settings = make_settings(store_url, lark_group={"bot_open_id": BOT_OPEN_ID})
    async with serving(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            await post_event(client, message_event("@_user_1 hi", mentions=[bot_mention()]))
            assert (await fetch(client))["mentioned_bot"] is True


async def test_bot_open_id_shared_through_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    queue = await open_queue(url)
    await queue.set_meta("bot_open_id", BOT_OPEN_ID)
    try:
        async with serving(create_app(make_settings(url), queue=queue)) as base:
            async with httpx.AsyncClient(base_url=base) as client:
                await post_event(client, message_event("@_user_1 hi", mentions=[bot_mention()]))
                own = message_event("my own answer", sender=BOT_OPEN_ID)
                assert (await post_event(client, own)).status_code == 200
                got = await fetch(client)
                assert got["mentioned_bot"] is True
                assert await fetch(client) == {}  # the bot's own message was not queued
    finally:
        await queue.close()


async def test_plain_events_without_encrypt_key(store_url):
    settings = make_settings(store_url, encrypt_key="")
    async with serving(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            body = json.dumps({"challenge": "p", "token": VERIFICATION_TOKEN, "type": "url_verification"})
            assert (await client.post("/event", content=body)).json() == {"challenge": "p"}
            r = await client.post("/event", content=json.dumps(message_event("plain", message_id="om_p")))
            assert r.status_code == 200
            assert (await fetch(client))["content"] == "plain"
            bad = await client.post("/event", content=json.dumps(message_event("x", token="nope")))
            assert bad.status_code == 401


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer", "bearer   ", "Basic Og==", "Bearer null"])
async def test_without_a_fetch_token_fetch_and_ack_are_off(store_url, authorization):
    settings = make_settings(store_url, fetch_token="")
    async with serving(create_app(settings)) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await post_event(client, message_event("secret plans"))).status_code == 200
            headers = {"Authorization": authorization} if authorization is not None else {}
            status, body = await raw_request(base, "POST", "/fetch", headers)
            assert status == 404 and json.loads(body)["error"] == "fetch_disabled"
            assert "secret plans" not in body.decode()
            assert (await raw_request(base, "POST", "/ack", headers, b'{"delivery_id": "1.x"}'))[0] == 404
            assert (await client.get("/healthz")).json()["depth"]["normal"] == 1  # still queued, untouched


@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer", "Bearer  \t", f"Basic {FETCH_TOKEN}",
                                           f"Bearer {FETCH_TOKEN}x", f"Bearer {FETCH_TOKEN[:-1]}"])
async def test_an_empty_or_wrong_bearer_token_never_gets_messages(gateway, authorization):
    await post_event(gateway, message_event("for the assistant only"))
    status, body = await raw_request(str(gateway.base_url), "POST", "/fetch", {"Authorization": authorization})
    assert status == 401 and json.loads(body)["error"] == "unauthorized"
    assert "for the assistant only" not in body.decode()
    assert (await fetch(gateway))["content"] == "for the assistant only"


async def test_metrics_can_need_a_token(store_url):
    async with serving(create_app(make_settings(store_url, metrics_token="metrics-secret"))) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/metrics")).status_code == 401
            assert (await raw_request(base, "GET", "/metrics", {"Authorization": "Bearer "}))[0] == 401
            ok = await client.get("/metrics", headers={"Authorization": "Bearer metrics-secret"})
            assert ok.status_code == 200 and "larkdou_gateway_events_total" in ok.text
            assert (await client.get("/healthz")).status_code == 200  # health stays open
