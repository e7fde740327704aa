"""People reply to a message (quoting it) or in its thread, through the control API; the pushed event
carries parent_id / root_id / thread_id as Lark's does (reference §3), and bad replies change nothing."""

from __future__ import annotations

from tests.sandbox.conftest import Sandbox, wait_until
from tests.sandbox.test_push import opened


def pushed(sandbox: Sandbox, message_id: str) -> dict:
    """The event pushed for `message_id`, decrypted."""
    for i in range(len(sandbox.receiver.pushes)):
        message = opened(sandbox, i)["event"]["message"]
        if message["message_id"] == message_id:
            return message
    raise AssertionError(f"{message_id} was not pushed")


async def test_quote_replies_and_thread_replies_carry_lark_links(sandbox: Sandbox) -> None:
    question = await sandbox.post("原问题")
    quote = await sandbox.post("我引用一下", user="bob", parent_id=question["message_id"])
    quote_of_quote = await sandbox.post("再引用", user="carol", parent_id=quote["message_id"])
    in_thread = await sandbox.post("话题里说", user="bob", parent_id=quote["message_id"], in_thread=True)
    later = await sandbox.post("话题里接着说", user="alice", parent_id=in_thread["message_id"])
    await wait_until(lambda: len(sandbox.receiver.pushes) == 5)

    q_id = question["message_id"]
    first = pushed(sandbox, quote["message_id"])
    assert (first["parent_id"], first["root_id"], "thread_id" in first) == (q_id, q_id, False)
    second = pushed(sandbox, quote_of_quote["message_id"])
    assert (second["parent_id"], second["root_id"]) == (quote["message_id"], q_id)  # quotes its parent, shares the root
    thread = pushed(sandbox, in_thread["message_id"])
    assert thread["thread_id"].startswith("omt_")
    assert (thread["parent_id"], thread["root_id"]) == (q_id, q_id)  # in a thread both are the root
    follow = pushed(sandbox, later["message_id"])  # replying to a thread message stays in the thread
    assert (follow["thread_id"], follow["parent_id"], follow["root_id"]) == (thread["thread_id"], q_id, q_id)

    shown = {m["message_id"]: m for m in await sandbox.messages()}
    assert shown[q_id]["thread_id"] == thread["thread_id"]  # the root heads the thread now
    assert in_thread["thread_id"] == thread["thread_id"] and quote["thread_id"] == ""


async def test_bad_replies_are_refused_and_change_nothing(sandbox: Sandbox) -> None:
    question = await sandbox.post("q")
    other = (await sandbox.http.post("/sandbox/chats", json={"name": "另一个群"})).json()["chat_id"]
    auth = await sandbox.token()
    answer = (await sandbox.reply(question["message_id"], "a", auth)).json()["data"]["message_id"]
    await sandbox.http.delete(f"/open-apis/im/v1/messages/{answer}", headers=auth)
    chat = sandbox.state.default_chat.chat_id
    cases = [
        ({"in_thread": True}, 400, "parent_id"),
        ({"parent_id": "om_" + "0" * 32}, 400, "no message"),
        ({"parent_id": answer}, 400, "recalled"),
        ({"parent_id": 5}, 400, "parent_id"),
    ]
    for extra, status, reason in cases:
        resp = await sandbox.http.post(f"/sandbox/chats/{chat}/messages", json={"user": "bob", "text": "x", **extra})
        assert resp.status_code == status and reason in resp.json()["error"], extra
    resp = await sandbox.http.post(f"/sandbox/chats/{other}/messages",
                                   json={"user": "bob", "text": "x", "parent_id": question["message_id"]})
    assert resp.status_code == 400 and "no message" in resp.json()["error"]
    assert [m["text"] for m in await sandbox.messages()] == ["q", "a"]
    assert await sandbox.messages(other) == []
