"""Cards through the client against the real sandbox: what the chat shows after a card is sent,
replied, updated (within Lark's per-message rate), refused, and what the bot's groups are."""

from __future__ import annotations

import asyncio
import json

import pytest

from larkdou.errors import CardContentError, LarkAPIError, MessageGoneError
from larkdou.lark.cards import SourceLink, answer_card, answer_cards, recall_footer, streaming_card, thinking_card
from larkdou.lark.client import LarkClient, reply_uuid
from tests.lark.conftest import Recorder, Sandbox


def card_of(message: dict) -> dict:
    return json.loads(message["content"])


def body_of(message: dict) -> str:
    return card_of(message)["body"]["elements"][0]["content"]


async def test_card_reply_send_and_what_the_chat_shows(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    question = await sandbox.post(chat_id, "怎么启动？")
    card = answer_card("运行 **`larkdou demo`**。", title="启动", sources=[SourceLink("README.md", "https://e.x/r")],
                       footer=recall_footer())
    reply = await lark.reply_card(question, card, uuid=reply_uuid(question), chat_id=chat_id)
    sent = await lark.send_card(chat_id, thinking_card(), uuid=reply_uuid("om_note"))
    shown = {m["message_id"]: m for m in await sandbox.messages(chat_id)}
    assert shown[reply.message_id]["msg_type"] == "interactive"
    assert shown[reply.message_id]["parent_id"] == question
    assert card_of(shown[reply.message_id]) == card
    assert "运行 **`larkdou demo`**。" in shown[reply.message_id]["text"]
    assert body_of(shown[sent.message_id]) == "<font color='grey'>思考中…</font>"


async def test_a_card_grows_with_updates_and_lark_shows_the_latest(lark: LarkClient, sandbox: Sandbox,
                                                                   recorder: Recorder, chat_id: str) -> None:
    question = await sandbox.post(chat_id, "讲讲长连接")
    sent = await lark.reply_card(question, thinking_card(), uuid=reply_uuid(question), chat_id=chat_id)
    text = ""
    for word in ["长连接", "不需要", "公网地址。"]:
        text += word
        await lark.update_card(sent.message_id, streaming_card(text), chat_id=chat_id)
    final = answer_card(text, footer=recall_footer())
    await lark.update_card(sent.message_id, final, chat_id=chat_id)
    got = (await sandbox.http.get(f"/open-apis/im/v1/messages/{sent.message_id}",
                                  headers={"Authorization": recorder.calls[-1].authorization})).json()
    item = got["data"]["items"][0]
    assert item["updated"] is True and int(item["update_time"]) >= int(item["create_time"])
    assert json.loads(item["body"]["content"]) == final
    assert [m["message_id"] for m in await sandbox.bot_messages(chat_id)] == [sent.message_id]  # one card, updated
    assert recorder.count("PATCH") == 4


async def test_rapid_updates_keep_five_per_second_per_message(lark: LarkClient, sandbox: Sandbox,
                                                              recorder: Recorder, chat_id: str) -> None:
    sent = await lark.send_card(chat_id, thinking_card(), uuid=reply_uuid("om_fast"))
    await asyncio.gather(*(lark.update_card(sent.message_id, streaming_card(f"第{i}版")) for i in range(12)))
    assert recorder.count("PATCH") == 12
    assert not any(c.rate_limited for c in recorder.calls)  # the client kept the limit: no 230020


async def test_a_230020_on_updates_is_waited_out(sandbox: Sandbox, recorder: Recorder, chat_id: str) -> None:
    from tests.lark.conftest import make_app

    async with LarkClient(make_app(sandbox.url), transport=recorder) as lark:
        sent = await lark.send_card(chat_id, thinking_card(), uuid=reply_uuid("om_slow_lark"))
        await sandbox.tune(update_rate=1)  # Lark slower than the client thinks
        await asyncio.gather(*(lark.update_card(sent.message_id, streaming_card(f"v{i}")) for i in range(3)))
    assert any(c.rate_limited for c in recorder.calls if c.method == "PATCH")
    shown = {m["message_id"]: m for m in await sandbox.messages(chat_id)}
    assert body_of(shown[sent.message_id]).startswith("v")


async def test_update_refusals_are_typed(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    text_msg = await lark.send_text(chat_id, "纯文本", uuid=reply_uuid("om_text"))
    card_msg = await lark.send_card(chat_id, thinking_card(), uuid=reply_uuid("om_card"))
    users = await sandbox.post(chat_id, "用户的消息")
    with pytest.raises(LarkAPIError) as not_a_card:  # only cards can be updated
        await lark.update_card(text_msg.message_id, streaming_card("x"))
    assert not_a_card.value.code == 230001
    with pytest.raises(LarkAPIError) as not_ours:
        await lark.update_card(users, streaming_card("x"))
    assert not_ours.value.code == 230027
    broken = {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": [{"content": "no tag"}]}}
    with pytest.raises(CardContentError, match="200621"):
        await lark.update_card(card_msg.message_id, broken)
    await lark.recall(card_msg.message_id)
    with pytest.raises(MessageGoneError):
        await lark.update_card(card_msg.message_id, streaming_card("too late"))
    shown = {m["message_id"]: m for m in await sandbox.messages(chat_id)}
    assert shown[card_msg.message_id]["deleted"] and "too late" not in shown[card_msg.message_id]["content"]


async def test_a_refused_card_posts_nothing_and_text_still_goes(lark: LarkClient, sandbox: Sandbox,
                                                                 chat_id: str) -> None:
    question = await sandbox.post(chat_id, "q")
    bad = {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": []}, "extra": 1}
    with pytest.raises(CardContentError):
        await lark.reply_card(question, bad, uuid=reply_uuid(question), chat_id=chat_id)
    await lark.reply_text(question, "纯文本回答", uuid=reply_uuid(question, 1), chat_id=chat_id)
    assert [m["text"] for m in await sandbox.bot_messages(chat_id)] == ["纯文本回答"]


async def test_every_part_of_a_long_answer_is_accepted(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    question = await sandbox.post(chat_id, "详细说说")
    text = ("这一段很长，包含中文和代码。\n\n```python\nprint('你好')\n```\n\n" * 2000)
    cards = answer_cards(text, title="详细说明", footer=recall_footer())
    assert len(cards) > 2
    for i, card in enumerate(cards):
        await lark.reply_card(question, card, uuid=reply_uuid(question, i), chat_id=chat_id)
    assert len(await sandbox.bot_messages(chat_id)) == len(cards)


async def test_bad_cards_are_refused_before_any_request(lark: LarkClient, recorder: Recorder, chat_id: str) -> None:
    with pytest.raises(ValueError, match="card"):
        await lark.send_card(chat_id, {}, uuid=reply_uuid("om_x"))
    with pytest.raises(ValueError, match="uuid"):
        await lark.send_card(chat_id, thinking_card(), uuid="")
    huge = {"schema": "2.0", "config": {"update_multi": True},
            "body": {"elements": [{"tag": "markdown", "content": "长" * 20_000}]}}
    with pytest.raises(ValueError, match="too large"):
        await lark.update_card("om_x", huge)
    with pytest.raises(ValueError, match="page_size"):
        await lark.list_chats(page_size=101)
    assert recorder.calls == []


async def test_list_chats_follows_pages_and_lists_groups_only(lark: LarkClient, sandbox: Sandbox) -> None:
    made = [(await sandbox.http.post("/sandbox/chats", json={"name": f"群{i}", "description": f"第{i}个群",
                                                              "owner": "alice" if i % 2 else ""})).json()
            for i in range(5)]
    await sandbox.http.post("/sandbox/chats", json={"name": "dora", "chat_type": "p2p"})
    chats = await lark.list_chats(page_size=2)
    info = await sandbox.info()
    assert [c.chat_id for c in chats] == [info["default_chat_id"]] + [m["chat_id"] for m in made]
    second = chats[2]
    assert (second.name, second.description, second.chat_mode, second.chat_status) == ("群1", "第1个群", "group", "normal")
    assert second.owner_id.startswith("ou_") and second.owner_id_type == "open_id"
    assert chats[1].owner_id == ""  # a group the bot owns lists no owner
