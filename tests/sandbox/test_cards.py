"""Lark's card rules as the sandbox enforces them on the wire: interactive sends and replies, the
30 KB request-body limit, card JSON checks, PATCH updates (own, not recalled, shared before and after,
14 days, 5 per second per message), and the list of the bot's groups. Refusals change nothing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from larkdou.lark.cards import answer_card, card_content, thinking_card
from tests.sandbox.conftest import SEND, Sandbox, text_body


def card_body(chat_id: str, card: dict[str, Any] | str, **kw: object) -> dict[str, object]:
    content = card if isinstance(card, str) else json.dumps(card, ensure_ascii=False)
    return {"receive_id": chat_id, "msg_type": "interactive", "content": content, **kw}


def patch_path(message_id: str) -> str:
    return f"/open-apis/im/v1/messages/{message_id}"


V1_SHARED = {"config": {"update_multi": True}, "elements": [{"tag": "markdown", "content": "v1 shared"}]}
V1_PRIVATE = {"elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "v1 not shared"}}]}


async def test_cards_are_sent_and_replied_as_lark_does(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id
    question = await sandbox.post("q")
    sent = (await sandbox.http.post(SEND, json=card_body(chat, thinking_card()), headers=auth)).json()
    reply = (await sandbox.http.post(f"/open-apis/im/v1/messages/{question['message_id']}/reply", headers=auth,
                                     json={"msg_type": "interactive", "content": card_content(V1_SHARED)})).json()
    assert sent["code"] == reply["code"] == 0
    assert sent["data"]["msg_type"] == "interactive" and reply["data"]["parent_id"] == question["message_id"]
    assert json.loads(sent["data"]["body"]["content"]) == thinking_card()
    assert [m["msg_type"] for m in await sandbox.messages()] == ["text", "interactive", "interactive"]


async def test_bad_cards_are_refused_with_lark_codes_and_post_nothing(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id
    await sandbox.http.post("/sandbox/settings", json={"chat_rate": 1000})
    v2 = {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": []}}
    cases = [
        ("not json", 230001),
        ("[1]", 230001),
        ({**v2, "elements": []}, 230099),  # unknown top-level property in 2.0
        ({"schema": "2.0", "body": {}}, 230099),  # no body.elements
        ({**v2, "config": {"update_multi": False}}, 230099),  # 2.0 cards are always shared
        ({**v2, "body": {"elements": [{"tag": "markdown"}]}}, 230099),  # markdown without content
        ({**v2, "body": {"elements": [{"tag": "markdown", "content": "a", "element_id": "1x"}]}}, 230099),
        ({"type": "card", "data": {"card_id": "7355372766134157313"}}, 230099),  # no CardKit in the sandbox
        ({**v2, "header": {"title": "plain string"}}, 230099),
    ]
    for card, code in cases:
        resp = await sandbox.http.post(SEND, json=card_body(chat, card), headers=auth)
        assert (resp.status_code, resp.json()["code"]) == (400, code), card
        if code == 230099:
            assert resp.json()["msg"].startswith("Failed to create card content")
    assert await sandbox.messages() == []


async def test_the_30_kb_limit_is_on_the_request_body(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id

    def card_of_size(body_bytes: int) -> dict[str, object]:
        """A send body of exactly `body_bytes` bytes (Chinese text: 3 bytes a character)."""
        base = card_body(chat, {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": ""}]}})
        room = body_bytes - len(json.dumps(base, ensure_ascii=False).encode())
        text = "中" * (room // 3) + "x" * (room % 3)
        return card_body(chat, {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": text}]}})

    for size, code in [(30 * 1024, 0), (30 * 1024 + 1, 230025)]:
        body = json.dumps(card_of_size(size), ensure_ascii=False).encode()
        assert len(body) == size
        resp = await sandbox.http.post(SEND, content=body, headers={**auth, "Content-Type": "application/json"})
        assert resp.json()["code"] == code
    assert len(await sandbox.messages()) == 1
    # a text message may be much longer (150 KB)
    content = json.dumps({"text": "中" * 40_000}, ensure_ascii=False)
    long_text = json.dumps({"receive_id": chat, "msg_type": "text", "content": content}, ensure_ascii=False).encode()
    resp = await sandbox.http.post(SEND, content=long_text, headers={**auth, "Content-Type": "application/json"})
    assert resp.json()["code"] == 0


async def test_patch_replaces_the_card_and_readers_see_the_latest(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id
    sent = (await sandbox.http.post(SEND, json=card_body(chat, thinking_card()), headers=auth)).json()["data"]
    new = answer_card("**最终**回答")
    resp = await sandbox.http.patch(patch_path(sent["message_id"]), json={"content": card_content(new)}, headers=auth)
    assert resp.json() == {"code": 0, "msg": "success", "data": {}}
    got = (await sandbox.http.get(patch_path(sent["message_id"]), headers=auth)).json()["data"]["items"][0]
    assert got["updated"] is True and json.loads(got["body"]["content"]) == new
    listed = (await sandbox.http.get("/open-apis/im/v1/messages", headers=auth,
                                     params={"container_id_type": "chat", "container_id": chat})).json()
    assert json.loads(listed["data"]["items"][0]["body"]["content"]) == new
    view = (await sandbox.messages())[0]
    assert view["updated"] and "**最终**回答" in view["text"]


async def test_patch_rules(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id

    async def send(card: dict[str, Any]) -> str:
        return (await sandbox.http.post(SEND, json=card_body(chat, card), headers=auth)).json()["data"]["message_id"]

    async def patch(message_id: str, card: Any) -> tuple[int, int]:
        content = card if isinstance(card, str) else card_content(card)
        resp = await sandbox.http.patch(patch_path(message_id), json={"content": content}, headers=auth)
        return resp.status_code, resp.json()["code"]

    shared, private = await send(V1_SHARED), await send(V1_PRIVATE)
    text = (await sandbox.http.post(SEND, json=text_body(chat, "plain"), headers=auth)).json()["data"]["message_id"]
    users = (await sandbox.post("mine"))["message_id"]
    assert await patch(private, V1_SHARED) == (400, 230099)  # not shared before
    assert await patch(shared, V1_PRIVATE) == (400, 230099)  # not shared after
    assert await patch(text, V1_SHARED) == (400, 230001)  # only cards
    assert await patch(users, V1_SHARED) == (400, 230027)  # only the bot's own
    assert await patch("om_" + "0" * 32, V1_SHARED) == (400, 230001)
    assert await patch(shared, "{broken") == (400, 230001)
    assert await patch(shared, {"schema": "2.0", "body": {"elements": [{"tag": ""}]}}) == (400, 230099)
    await sandbox.http.delete(patch_path(shared), headers=auth)
    assert await patch(shared, V1_SHARED) == (400, 230011)  # recalled
    await sandbox.http.post("/sandbox/settings", json={"update_window_seconds": 0.001})
    old = await send(V1_SHARED)
    await asyncio.sleep(0.01)
    assert await patch(old, V1_SHARED) == (400, 230031)  # older than the window
    contents = [m["content"] for m in await sandbox.messages()]
    assert "v1 not shared" in contents[1] and all("broken" not in c for c in contents)  # nothing changed


async def test_updates_are_counted_and_so_are_those_tried_after_a_recall(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id
    sent = (await sandbox.http.post(SEND, json=card_body(chat, thinking_card()), headers=auth)).json()["data"]
    for text in ("一", "一二"):
        await sandbox.http.patch(patch_path(sent["message_id"]), json={"content": card_content(answer_card(text))},
                                 headers=auth)
    await sandbox.http.delete(patch_path(sent["message_id"]), headers=auth)
    late = await sandbox.http.patch(patch_path(sent["message_id"]), json={"content": card_content(answer_card("三"))},
                                    headers=auth)
    assert late.json()["code"] == 230011
    [view] = await sandbox.messages()
    assert (view["updates"], view["updates_after_recall"], view["deleted"]) == (2, 1, True)
    assert "一二" in view["text"] and "三" not in view["text"]


async def test_refusing_cards_on_demand(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id
    sent = (await sandbox.http.post(SEND, json=card_body(chat, thinking_card()), headers=auth)).json()["data"]
    faults = (await sandbox.http.post("/sandbox/faults", json={"refuse_cards": True})).json()
    assert faults["refuse_cards"] is True
    refused = await sandbox.http.post(SEND, json=card_body(chat, answer_card("x")), headers=auth)
    update = await sandbox.http.patch(patch_path(sent["message_id"]), json={"content": card_content(answer_card("y"))},
                                      headers=auth)
    text = await sandbox.http.post(SEND, json=text_body(chat, "纯文本照常"), headers=auth)
    assert [refused.json()["code"], update.json()["code"], text.json()["code"]] == [230099, 230099, 0]
    assert refused.json()["msg"].startswith("Failed to create card content")
    await sandbox.http.delete("/sandbox/faults")
    again = await sandbox.http.post(SEND, json=card_body(chat, answer_card("x")), headers=auth)
    assert again.json()["code"] == 0
    assert [m["msg_type"] for m in await sandbox.messages()] == ["interactive", "text", "interactive"]
    assert (await sandbox.http.post("/sandbox/faults", json={"refuse_cards": "yes"})).status_code == 400


async def test_five_updates_per_second_per_message(sandbox: Sandbox) -> None:
    auth, chat = await sandbox.token(), sandbox.state.default_chat.chat_id
    ids = [(await sandbox.http.post(SEND, json=card_body(chat, V1_SHARED), headers=auth)).json()["data"]["message_id"]
           for _ in range(2)]
    answers = [await sandbox.http.patch(patch_path(ids[0]), json={"content": card_content(V1_SHARED)}, headers=auth)
               for _ in range(7)]
    codes = [r.json()["code"] for r in answers]
    assert codes[:5] == [0] * 5 and 230020 in codes[5:]
    limited = next(r for r in answers if r.json()["code"] == 230020)
    assert limited.status_code == 400 and int(limited.headers["x-ogw-ratelimit-reset"]) >= 1
    other = await sandbox.http.patch(patch_path(ids[1]), json={"content": card_content(V1_SHARED)}, headers=auth)
    assert other.json()["code"] == 0  # the limit is per message


async def test_chat_list_pages_sorts_and_refuses_bad_params(sandbox: Sandbox) -> None:
    auth = await sandbox.token()
    for i in range(3):
        await sandbox.http.post("/sandbox/chats", json={"name": f"g{i}", "owner": "bob"})
    await sandbox.http.post("/sandbox/chats", json={"name": "dm", "chat_type": "p2p"})
    first = (await sandbox.http.get("/open-apis/im/v1/chats", params={"page_size": 3}, headers=auth)).json()["data"]
    second = (await sandbox.http.get("/open-apis/im/v1/chats", headers=auth,
                                     params={"page_size": 3, "page_token": first["page_token"]})).json()["data"]
    assert first["has_more"] is True and second["has_more"] is False and second["page_token"] == ""
    names = [c["name"] for c in first["items"] + second["items"]]
    assert names == ["larkdou 测试群", "g0", "g1", "g2"]
    g0 = first["items"][1]
    assert (g0["owner_id_type"], g0["chat_status"], g0["external"]) == ("open_id", "normal", False)
    assert "owner_id" not in first["items"][0]  # the bot's own group
    by_user_id = (await sandbox.http.get("/open-apis/im/v1/chats", headers=auth,
                                         params={"user_id_type": "user_id"})).json()["data"]["items"][1]
    assert by_user_id["owner_id_type"] == "user_id" and by_user_id["owner_id"] != g0["owner_id"]
    await sandbox.post("now active", chat_id=first["items"][2]["chat_id"])
    active = (await sandbox.http.get("/open-apis/im/v1/chats", headers=auth,
                                     params={"sort_type": "ByActiveTimeDesc"})).json()["data"]["items"]
    assert active[0]["name"] == "g1"
    for bad in ({"page_size": 0}, {"page_size": 101}, {"page_size": "x"}, {"sort_type": "ByName"},
                {"user_id_type": "email"}):
        resp = await sandbox.http.get("/open-apis/im/v1/chats", params=bad, headers=auth)
        assert (resp.status_code, resp.json()["code"]) == (400, 230001), bad
