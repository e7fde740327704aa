"""Lark's rules as the sandbox enforces them: uuid idempotency, who may recall what and when, tokens,
rate limits with their reset header, and refusals that change nothing."""

from __future__ import annotations

import asyncio
import json
import logging

from tests.sandbox.conftest import SEND, Sandbox, text_body

async def test_same_uuid_posts_once_and_returns_the_original(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    chat = sandbox.state.default_chat.chat_id
    question = await sandbox.post("q")
    first = await sandbox.reply(question["message_id"], "answer", auth, uuid="reply-of-q")
    again = await sandbox.reply(question["message_id"], "answer", auth, uuid="reply-of-q")
    sent = await sandbox.http.post(SEND, json=text_body(chat, "other", uuid="reply-of-q"), headers=auth)
    fresh = await sandbox.http.post(SEND, json=text_body(chat, "other", uuid="another"), headers=auth)

    ids = {r.json()["data"]["message_id"] for r in (first, again, sent)}
    assert len(ids) == 1 and all(r.json()["code"] == 0 for r in (first, again, sent))
    assert [m["text"] for m in await sandbox.messages()] == ["q", "answer", "other"]
    assert fresh.json()["data"]["message_id"] not in ids


async def test_recall_rules(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    question = await sandbox.post("q")
    answer = (await sandbox.reply(question["message_id"], "a", auth)).json()["data"]["message_id"]

    async def recall(message_id: str) -> tuple[int, int]:
        resp = await sandbox.http.delete(f"/open-apis/im/v1/messages/{message_id}", headers=auth)
        return resp.status_code, resp.json()["code"]

    assert await recall(question["message_id"]) == (400, 230026)  # a user's message
    assert await recall(answer) == (200, 0)
    assert await recall(answer) == (400, 230011)  # already recalled
    assert await recall("om_" + "0" * 32) == (400, 231003)  # unknown
    assert await recall("not-an-id") == (400, 230001)
    assert [(m["text"], m["deleted"]) for m in await sandbox.messages()] == [("q", False), ("a", True)]
    # a recalled message cannot be replied to
    assert (await sandbox.reply(answer, "more", auth)).json()["code"] == 230011


async def test_recall_window(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    await sandbox.http.post("/sandbox/settings", json={"recall_window_seconds": 0.3})
    question = await sandbox.post("q")
    answer = (await sandbox.reply(question["message_id"], "a", auth)).json()["data"]["message_id"]
    await asyncio.sleep(0.5)
    resp = await sandbox.http.delete(f"/open-apis/im/v1/messages/{answer}", headers=auth)
    assert (resp.status_code, resp.json()["code"]) == (400, 230009)
    await sandbox.http.post("/sandbox/settings", json={"recall_window_seconds": 60})
    resp = await sandbox.http.delete(f"/open-apis/im/v1/messages/{answer}", headers=auth)
    assert resp.json()["code"] == 0
    assert [m["deleted"] for m in await sandbox.messages()] == [False, True]


async def test_reply_links_and_threads(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    question = await sandbox.post("q")
    plain = (await sandbox.reply(question["message_id"], "a", auth)).json()["data"]
    threaded = (await sandbox.reply(question["message_id"], "t", auth, reply_in_thread=True)).json()["data"]
    inner = (await sandbox.reply(threaded["message_id"], "t2", auth)).json()["data"]
    assert (plain["parent_id"], plain["root_id"], "thread_id" in plain) == (question["message_id"],) * 2 + (False,)
    assert threaded["thread_id"].startswith("omt_")
    # replying inside a thread stays in the thread; in a thread, parent and root are the thread's root
    assert (inner["thread_id"], inner["root_id"], inner["parent_id"]) == (
        threaded["thread_id"], question["message_id"], question["message_id"])
    got = (await sandbox.http.get(f"/open-apis/im/v1/messages/{question['message_id']}", headers=auth)).json()
    assert got["data"]["items"][0]["thread_id"] == threaded["thread_id"]  # the root now heads the thread


async def test_direct_chat_by_open_id(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    dm = await sandbox.post("hi bot", user="dora", chat_id="oc_dm_dora", chat_type="p2p")
    dora = (await sandbox.messages("oc_dm_dora"))[0]["sender"]["open_id"]
    resp = await sandbox.http.post("/open-apis/im/v1/messages?receive_id_type=open_id", headers=auth,
                                   json={"receive_id": dora, "msg_type": "text", "content": '{"text":"hello dora"}'})
    assert resp.json()["data"]["chat_id"] == dm["chat_id"]
    assert [m["text"] for m in await sandbox.messages("oc_dm_dora")] == ["hi bot", "hello dora"]
    unknown = await sandbox.http.post("/open-apis/im/v1/messages?receive_id_type=open_id", headers=auth,
                                      json={"receive_id": "ou_nobody", "msg_type": "text", "content": '{"text":"x"}'})
    assert unknown.json()["code"] == 230013


async def test_bad_sends_are_refused_and_post_nothing(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    chat = sandbox.state.default_chat.chat_id
    cases = [
        (SEND, {"receive_id": chat, "msg_type": "text", "content": "not json"}, 230001),
        (SEND, {"receive_id": chat, "msg_type": "text", "content": '{"txt":"x"}'}, 230001),
        (SEND, {"receive_id": chat, "msg_type": "bogus", "content": '{"text":"x"}'}, 230001),
        (SEND, text_body(chat, "x" * (151 * 1024)), 230025),
        (SEND, text_body(chat, "x", uuid="u" * 51), 230001),
        (SEND, text_body("chat-without-prefix", "x"), 230001),
        ("/open-apis/im/v1/messages", text_body(chat, "x"), 230001),  # no receive_id_type
    ]
    for path, body, code in cases:
        resp = await sandbox.http.post(path, json=body, headers=auth)
        assert (resp.status_code, resp.json()["code"]) == (400, code), body
    garbage = await sandbox.http.post(SEND, content=b"{oops", headers=auth)
    assert garbage.json()["code"] == 230001
    assert await sandbox.messages() == []


async def test_tokens(sandbox: Sandbox) -> None:
    info = "/open-apis/bot/v3/info"
    bad = await sandbox.http.post("/open-apis/auth/v3/tenant_access_token/internal",
                                  json={"app_id": sandbox.state.creds.app_id, "app_secret": "wrong"})
    assert (bad.status_code, bad.json()["code"]) == (400, 99991543)
    assert "tenant_access_token" not in bad.json()
    assert (await sandbox.http.get(info)).json()["code"] == 99991661
    assert (await sandbox.http.get(info, headers={"Authorization": "Bearer t-made-up"})).json()["code"] == 99991663

    first = await sandbox.token()
    assert await sandbox.token() == first  # plenty of life left: the same token again
    await sandbox.http.post("/sandbox/faults", json={"expire_tokens": True})
    expired = await sandbox.http.get(info, headers=first)
    assert (expired.status_code, expired.json()["code"]) == (400, 99991663)
    second = await sandbox.token()
    assert second != first and (await sandbox.http.get(info, headers=second)).json()["code"] == 0


async def test_token_reissued_near_expiry_both_valid(sandbox: Sandbox) -> None:
    info = "/open-apis/bot/v3/info"
    await sandbox.http.post("/sandbox/settings", json={"token_ttl_seconds": 2})
    first = await sandbox.token()
    await asyncio.sleep(1.6)  # under a quarter of its life left
    second = await sandbox.token()
    assert second != first
    assert (await sandbox.http.get(info, headers=first)).json()["code"] == 0
    await asyncio.sleep(0.5)
    assert (await sandbox.http.get(info, headers=first)).json()["code"] == 99991663
    assert (await sandbox.http.get(info, headers=second)).json()["code"] == 0


async def test_app_rate_limit_has_reset_header(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    await sandbox.http.post("/sandbox/settings", json={"app_rate": 3})
    codes = [(await sandbox.http.get("/open-apis/bot/v3/info", headers=auth)) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert codes[-1].json()["code"] == 99991400
    wait = int(codes[-1].headers["x-ogw-ratelimit-reset"])
    assert wait >= 1
    await asyncio.sleep(wait)
    assert (await sandbox.http.get("/open-apis/bot/v3/info", headers=auth)).status_code == 200


async def test_chat_rate_limit_is_per_chat(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    await sandbox.http.post("/sandbox/settings", json={"chat_rate": 2})
    chat = sandbox.state.default_chat.chat_id
    sends = [await sandbox.http.post(SEND, json=text_body(chat, f"m{i}"), headers=auth) for i in range(3)]
    assert [r.json()["code"] for r in sends] == [0, 0, 230020]
    assert sends[-1].status_code == 400 and int(sends[-1].headers["x-ogw-ratelimit-reset"]) >= 1
    other = await sandbox.http.post(SEND, json=text_body("oc_other", "elsewhere"), headers=auth)
    assert other.json()["code"] == 0
    assert [m["text"] for m in await sandbox.messages()] == ["m0", "m1"]


async def test_history_pages_and_marks_recalled(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    chat = sandbox.state.default_chat.chat_id
    sent = [(await sandbox.http.post(SEND, json=text_body(chat, f"m{i}"), headers=auth)).json()["data"]
            for i in range(5)]
    await sandbox.http.delete(f"/open-apis/im/v1/messages/{sent[1]['message_id']}", headers=auth)
    base = f"/open-apis/im/v1/messages?container_id_type=chat&container_id={chat}"
    path = base + "&page_size=2"
    seen, token = [], ""
    while True:
        page = (await sandbox.http.get(path + (f"&page_token={token}" if token else ""), headers=auth)).json()["data"]
        seen += [(json.loads(m["body"]["content"])["text"], m["deleted"]) for m in page["items"]]
        if not page["has_more"]:
            break
        token = page["page_token"]
    assert seen == [("m0", False), ("This message was recalled", True), ("m2", False), ("m3", False), ("m4", False)]
    newest = (await sandbox.http.get(path + "&sort_type=ByCreateTimeDesc", headers=auth)).json()["data"]["items"]
    assert [m["message_id"] for m in newest] == [sent[4]["message_id"], sent[3]["message_id"]]
    for bad in ("&page_size=0", "&page_size=51", "&page_token=x", "&sort_type=Random"):
        assert (await sandbox.http.get(base + bad, headers=auth)).json()["code"] == 230001, bad
    unknown = await sandbox.http.get("/open-apis/im/v1/messages?container_id_type=chat&container_id=oc_nope",
                                     headers=auth)
    assert unknown.json()["code"] == 230001


async def test_a_caller_that_hangs_up_mid_body_posts_nothing_and_leaves_no_traceback(
        sandbox: Sandbox, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO)
    auth = await sandbox.token()
    question = await sandbox.post("q")
    host, port = sandbox.url.removeprefix("http://").split(":")
    body = json.dumps({"msg_type": "text", "content": json.dumps({"text": "half"})}).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST /open-apis/im/v1/messages/{question['message_id']}/reply HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])
    await writer.drain()
    await asyncio.sleep(0.2)  # the sandbox is reading the body now
    writer.close()  # a killed assistant
    await asyncio.sleep(0.3)

    assert [m["text"] for m in await sandbox.messages()] == ["q"]
    assert "the caller went away" in caplog.text and "Traceback" not in caplog.text
    assert (await sandbox.reply(question["message_id"], "whole", auth)).json()["code"] == 0
