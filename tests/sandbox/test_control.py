"""The control API: fault injection on the Open API, run-time settings, simulated users and chats,
and clear 4xx answers for bad input that change nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from larkdou.sandbox.server import create_app
from tests.sandbox.conftest import SEND, Sandbox, text_body

async def test_injected_server_errors_post_nothing(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    chat = sandbox.state.default_chat.chat_id
    await sandbox.http.post("/sandbox/faults", json={"error_rate": 1.0, "error_status": 503})
    failed = await sandbox.http.post(SEND, json=text_body(chat, "lost?"), headers=auth)
    assert failed.status_code == 503 and failed.json()["code"] != 0
    await sandbox.http.delete("/sandbox/faults")
    ok = await sandbox.http.post(SEND, json=text_body(chat, "after"), headers=auth)
    assert ok.json()["code"] == 0
    assert [m["text"] for m in await sandbox.messages()] == ["after"]


async def test_error_count_fails_exactly_the_next_calls(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    await sandbox.http.post("/sandbox/faults", json={"error_count": 2})
    statuses = [(await sandbox.http.get("/open-apis/bot/v3/info", headers=auth)).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]


async def test_forced_rate_limit(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    await sandbox.http.post("/sandbox/faults", json={"rate_limit": {"seconds": 1}})
    limited = await sandbox.http.post(SEND, json=text_body(sandbox.state.default_chat.chat_id, "x"), headers=auth)
    assert (limited.status_code, limited.json()["code"]) == (429, 99991400)
    await asyncio.sleep(int(limited.headers["x-ogw-ratelimit-reset"]))
    assert (await sandbox.http.post(SEND, json=text_body(sandbox.state.default_chat.chat_id, "x"), headers=auth)
            ).json()["code"] == 0
    assert [m["text"] for m in await sandbox.messages()] == ["x"]


async def test_latency_times_out_a_client_and_uuid_saves_the_retry(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    chat = sandbox.state.default_chat.chat_id
    await sandbox.http.post("/sandbox/faults", json={"latency_ms": 600})
    with pytest.raises(httpx.ReadTimeout):
        await sandbox.http.post(SEND, json=text_body(chat, "once", uuid="k1"), headers=auth, timeout=0.2)
    retried = await sandbox.http.post(SEND, json=text_body(chat, "once", uuid="k1"), headers=auth)
    assert retried.json()["code"] == 0
    # the retry waited out the same latency, so the abandoned first request has finished too
    assert [m["text"] for m in await sandbox.messages()] == ["once"]


async def test_bad_faults_and_settings_change_nothing(sandbox: Sandbox) -> None:
    before_faults = (await sandbox.http.get("/sandbox/faults")).json()
    before_settings = (await sandbox.http.get("/sandbox/settings")).json()
    for bad in ({"error_rate": 2}, {"latency_ms": -1}, {"bogus": 1}, {"rate_limit": {"seconds": 0}},
                {"error_status": 200}, {"error_rate": 1.0, "error_count": -1}):
        resp = await sandbox.http.post("/sandbox/faults", json=bad)
        assert resp.status_code == 400 and resp.json()["error"], bad
    for bad in ({"retry_scale": 0}, {"recall_window_seconds": "soon"}, {"callback": "ftp://x"}, {"nope": 1}):
        resp = await sandbox.http.post("/sandbox/settings", json=bad)
        assert resp.status_code == 400 and resp.json()["error"], bad
    assert (await sandbox.http.post("/sandbox/settings", content=b"[1]")).status_code == 400
    assert (await sandbox.http.get("/sandbox/faults")).json() == before_faults
    assert (await sandbox.http.get("/sandbox/settings")).json() == before_settings


async def test_bad_user_posts_are_refused_and_post_nothing(sandbox: Sandbox) -> None:
    chat = sandbox.state.default_chat.chat_id
    path = f"/sandbox/chats/{chat}/messages"
    for bad in ({"text": "no user"}, {"user": "alice"}, {"user": "alice", "text": "   "},
                {"user": "alice", "text": "x", "mention_bot": "yes"},
                {"user": "alice", "text": "x", "chat_type": "channel"},
                {"user": "alice", "text": "x", "extra": 1},
                {"user": "alice", "text": "x", "chat_type": "p2p"}):  # the chat is a group
        resp = await sandbox.http.post(path, json=bad)
        assert resp.status_code == 400 and resp.json()["error"], bad
    assert (await sandbox.http.post(path, content=b"not json")).status_code == 400
    bad_chat = await sandbox.http.post("/sandbox/chats/nonsense/messages", json={"user": "a", "text": "x"})
    assert bad_chat.status_code == 400
    assert (await sandbox.http.get("/sandbox/chats/oc_missing/messages")).status_code == 404
    assert await sandbox.messages() == [] and sandbox.receiver.pushes == []
    assert len((await sandbox.http.get("/sandbox/chats")).json()["items"]) == 1


async def test_users_and_chats(sandbox: Sandbox) -> None:
    created = (await sandbox.http.post("/sandbox/chats", json={"name": "ops"})).json()
    assert created["chat_id"].startswith("oc_") and created["chat_type"] == "group"
    names = [c["name"] for c in (await sandbox.http.get("/sandbox/chats")).json()["items"]]
    assert names == ["larkdou 测试群", "ops"]
    a1 = await sandbox.post("one", chat_id=created["chat_id"])
    await sandbox.post("two", user="bob", chat_id=created["chat_id"])
    await sandbox.post("three", chat_id=created["chat_id"])
    shown = await sandbox.messages(created["chat_id"])
    assert [m["sender"]["name"] for m in shown] == ["alice", "bob", "alice"]
    assert shown[0]["sender"]["open_id"] == shown[2]["sender"]["open_id"] != shown[1]["sender"]["open_id"]
    assert a1["message_id"] == shown[0]["message_id"] and len(a1["event_id"]) == 32
    assert (await sandbox.http.post("/sandbox/chats", json={"name": ""})).status_code == 400


async def test_bot_identity_is_stable_per_app(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    info = (await sandbox.http.get("/open-apis/bot/v3/info", headers=auth)).json()
    assert info == {"code": 0, "msg": "ok", "bot": {"activate_status": 2, "app_name": "豆哥", "avatar_url": "",
                                                    "ip_white_list": [], "open_id": sandbox.state.bot.open_id}}
    again = create_app(sandbox.settings)
    assert again.state.sandbox.bot.open_id == sandbox.state.bot.open_id
    assert again.state.sandbox.user("alice") == sandbox.state.user("alice")
