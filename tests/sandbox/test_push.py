"""Event push: Lark's envelope, encryption and signature (checked by the official SDK's own handler and
by larkdou.lark.crypto), delivery order, retries with the same event_id, and the URL challenge."""

from __future__ import annotations

import json
from typing import Any

import httpx
import lark_oapi as lark
from lark_oapi.core.model import RawRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from larkdou.lark.crypto import decrypt, verify_signature
from larkdou.sandbox.server import create_app
from larkdou.serving import serving
from tests.sandbox.conftest import Receiver, Sandbox, make_settings, wait_until


def opened(sandbox: Sandbox, index: int) -> dict[str, Any]:
    """Verify and decrypt the index-th push with larkdou's own crypto."""
    push = sandbox.receiver.pushes[index]
    key = sandbox.state.creds.encrypt_key
    h = push.headers
    assert verify_signature(h["x-lark-request-timestamp"], h["x-lark-request-nonce"], key, push.body,
                            h["x-lark-signature"])
    return json.loads(decrypt(key, json.loads(push.body)["encrypt"]))


async def test_event_is_lark_shaped_encrypted_and_signed(sandbox: Sandbox) -> None:
    posted = await sandbox.post("怎么配置 encrypt key?", mention_bot=True)
    await wait_until(lambda: sandbox.receiver.pushes)
    event = opened(sandbox, 0)
    alice = (await sandbox.messages())[0]["sender"]["open_id"]

    assert event["schema"] == "2.0"
    header = event["header"]
    assert (header["event_id"], header["event_type"], header["token"], header["app_id"]) == (
        posted["event_id"], "im.message.receive_v1", sandbox.state.creds.verification_token,
        sandbox.state.creds.app_id)
    assert header["create_time"].isdigit() and len(header["create_time"]) == 13
    assert event["event"]["sender"] == {"sender_id": event["event"]["sender"]["sender_id"], "sender_type": "user",
                                        "tenant_key": header["tenant_key"]}
    assert event["event"]["sender"]["sender_id"]["open_id"] == alice
    message = event["event"]["message"]
    assert message["message_id"] == posted["message_id"] and message["message_id"].startswith("om_")
    assert (message["chat_id"], message["chat_type"], message["message_type"]) == (
        sandbox.state.default_chat.chat_id, "group", "text")
    assert json.loads(message["content"]) == {"text": "@_user_1 怎么配置 encrypt key?"}
    assert [(m["key"], m["id"]["open_id"], m["name"]) for m in message["mentions"]] == [
        ("@_user_1", sandbox.state.bot.open_id, "豆哥")]
    assert message["create_time"].isdigit()


async def test_official_sdk_handler_accepts_pushes_and_challenge() -> None:
    settings = make_settings(retry_scale=0.001)
    group = settings.frontend.lark_group
    got: list[Any] = []
    handler = (lark.EventDispatcherHandler.builder(settings.secret(group.encrypt_key),
                                                   settings.secret(group.verification_token))
               .register_p2_im_message_receive_v1(got.append).build())

    async def event(request: Request) -> Response:
        raw = RawRequest()
        raw.uri = request.url.path
        # as Flask/werkzeug hands them to the SDK: canonical header names
        raw.headers = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in request.headers.items()}
        raw.body = await request.body()
        resp = handler.do(raw)
        return Response(resp.content, status_code=resp.status_code)

    receiver = Starlette(routes=[Route("/event", event, methods=["POST"])])
    async with serving(receiver) as rurl:
        app = create_app(settings, callback=rurl + "/event")
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            challenge = (await http.post("/sandbox/challenge")).json()
            assert challenge["ok"] is True and challenge["status"] == 200
            chat = app.state.sandbox.default_chat.chat_id
            posted = (await http.post(f"/sandbox/chats/{chat}/messages",
                                      json={"user": "bob", "text": "hi", "mention_bot": True})).json()
            await wait_until(lambda: got)
            assert got[0].header.event_id == posted["event_id"]
            assert got[0].event.message.message_id == posted["message_id"]
            assert got[0].event.message.mentions[0].id.open_id == app.state.sandbox.bot.open_id
            deliveries = await wait_until(lambda: app.state.pusher.log_view())
            assert [(d["attempt"], d["status"]) for d in deliveries] == [(0, 200)]


async def test_sdk_handler_with_the_wrong_key_refuses_and_sandbox_retries() -> None:
    settings = make_settings(retry_scale=0.00003)
    handler = lark.EventDispatcherHandler.builder("some other key", "some other token").build()

    async def event(request: Request) -> Response:
        raw = RawRequest()
        raw.headers = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in request.headers.items()}
        raw.body = await request.body()
        resp = handler.do(raw)
        return Response(resp.content, status_code=resp.status_code)

    async with serving(Starlette(routes=[Route("/event", event, methods=["POST"])])) as rurl:
        app = create_app(settings, callback=rurl + "/event")
        async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
            assert (await http.post("/sandbox/challenge")).json()["ok"] is False
            chat = app.state.sandbox.default_chat.chat_id
            posted = (await http.post(f"/sandbox/chats/{chat}/messages", json={"user": "bob", "text": "x"})).json()

            async def all_attempts() -> list[dict[str, Any]]:
                items = (await http.get("/sandbox/deliveries")).json()["items"]
                return items if len(items) == 5 else []

            items = await wait_until(all_attempts)
            assert {d["event_id"] for d in items} == {posted["event_id"]}
            assert [(d["attempt"], d["status"]) for d in items] == [(i, 500) for i in range(5)]
            assert (await http.get("/sandbox/info")).json()["pending_pushes"] == 0  # gave up after 4 retries


async def test_plain_json_without_encrypt_key(receiver: Receiver) -> None:
    settings = make_settings()
    settings.frontend.lark_group.encrypt_key = ""  # type: ignore[assignment]
    app = create_app(settings, callback=receiver.url)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        chat = app.state.sandbox.default_chat.chat_id
        await http.post(f"/sandbox/chats/{chat}/messages", json={"user": "bob", "text": "plain"})
        await wait_until(lambda: receiver.pushes)
    push = receiver.pushes[0]
    event = json.loads(push.body)
    assert event["header"]["token"] == settings.secret(settings.frontend.lark_group.verification_token)
    assert json.loads(event["event"]["message"]["content"]) == {"text": "plain"}
    assert "x-lark-signature" not in push.headers


async def test_failed_pushes_are_retried_with_the_same_event(sandbox: Sandbox) -> None:
    sandbox.receiver.script = [(500, 0.0), (503, 0.0)]
    posted = await sandbox.post("retry me")
    await wait_until(lambda: len(sandbox.receiver.pushes) == 3)
    events = [opened(sandbox, i) for i in range(3)]
    assert {e["header"]["event_id"] for e in events} == {posted["event_id"]}
    assert {e["event"]["message"]["message_id"] for e in events} == {posted["message_id"]}
    log = await sandbox.deliveries(message_id=posted["message_id"])
    assert [(d["attempt"], d["status"]) for d in log] == [(0, 500), (1, 503), (2, 200)]


async def test_no_answer_within_3_seconds_is_a_failed_push(sandbox: Sandbox) -> None:
    sandbox.receiver.script = [(200, 3.5)]  # answers, but too late
    posted = await sandbox.post("slow receiver")
    log = await wait_until(lambda: _settled(sandbox, posted["event_id"]), timeout=15)
    assert [(d["attempt"], d["status"], d["error"]) for d in log] == [(0, None, "timeout"), (1, 200, "")]
    assert len(sandbox.receiver.pushes) == 2  # the receiver saw the event twice


async def _settled(sandbox: Sandbox, event_id: str) -> list[dict[str, Any]]:
    log = await sandbox.deliveries(event_id=event_id)
    return log if log and log[-1]["status"] == 200 else []


async def test_pushes_keep_chat_order_and_skip_the_bots_own_messages(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    posted = [await sandbox.post(t) for t in ("1", "2", "3")]
    await sandbox.reply(posted[0]["message_id"], "the bot speaks", auth)
    posted.append(await sandbox.post("豆哥撤回"))
    await wait_until(lambda: len(sandbox.receiver.pushes) == 4)
    texts = [json.loads(opened(sandbox, i)["event"]["message"]["content"])["text"] for i in range(4)]
    assert texts == ["1", "2", "3", "豆哥撤回"]


async def test_challenge_reports_a_wrong_answer(sandbox: Sandbox) -> None:
    # the plain receiver answers {"msg": "success"}, not the challenge
    result = (await sandbox.http.post("/sandbox/challenge")).json()
    assert result["ok"] is False and result["status"] == 200 and "challenge" in result["error"]
    body = json.loads(decrypt(sandbox.state.creds.encrypt_key, json.loads(sandbox.receiver.pushes[0].body)["encrypt"]))
    assert body["type"] == "url_verification" and body["token"] == sandbox.state.creds.verification_token
    assert "x-lark-signature" not in sandbox.receiver.pushes[0].headers
