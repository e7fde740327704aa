"""Complete answers as they reach the chat, through the real gateway, assistant and sandbox: a card with
the answer, its sources (links with `[kb] source_url`) and how to recall in the question's language;
plain text with `reply_format = "text"`; text where Lark refuses cards; recall takes cards back."""

from __future__ import annotations

import json
import re
from typing import Any

from larkdou.assistant.main import running
from larkdou.lark.cards import card_as_text
from tests.assistant.stack import said
from tests.e2e.harness import world

CHAT = "oc_answers"
SOURCE_URL = "https://git.example/larkdou/blob/main/docs/"


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["msg_type"] == "interactive", message["text"]
    return json.loads(message["content"])


def elements(card: dict[str, Any]) -> dict[str, str]:
    return {e["element_id"]: e["content"] for e in card["body"]["elements"] if "element_id" in e}


async def test_a_card_shows_the_answer_its_source_links_and_how_to_recall(tmp_path, sample_kb) -> None:
    groups = [{"chat_id": "oc_ops", "recall_keywords": ["撤回吧"]}]
    async with world(tmp_path, sample_kb, use_llm=False, kb={"source_url": SOURCE_URL}, groups=groups) as w, \
            running(w.settings, api_port=0) as run:
        zh = await w.sandbox.say(CHAT, "加密 key 怎么配置？")
        en = await w.sandbox.say(CHAT, "how do I set the encrypt key?", mention_bot=True)
        ops = await w.sandbox.say("oc_ops", "加密 key 怎么配置？")
        for msg_id in (zh, en, ops):
            assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [zh_card] = await w.bot_answers(CHAT, zh)
        [en_card] = await w.bot_answers(CHAT, en)
        [ops_card] = await w.bot_answers("oc_ops", ops)

        card = card_of(zh_card)
        assert card["header"]["title"]["content"] == "文档里是这样写的"
        parts = elements(card)
        assert "encrypt_key" in parts["answer"]
        link = re.search(r"\[(02-configuration\.md › [^\]]+)\]\((\S+)\)", parts["sources"])
        assert parts["sources"].startswith("**来源**\n1. ") and link is not None
        assert link.group(2).startswith(SOURCE_URL + "02-configuration.md#")
        assert parts["notes"].endswith("说“豆哥撤回”可撤回我在本群的回答</font>")
        en_parts = elements(card_of(en_card))
        assert en_parts["sources"].startswith("**Sources**")
        assert "Say “豆哥撤回” to recall my answers in this chat" in en_parts["notes"]
        assert "说“撤回吧”可撤回我在本群的回答" in elements(card_of(ops_card))["notes"]  # the group's own keyword

        recall = await w.sandbox.say(CHAT, "豆哥撤回")
        assert (await run.worker.wait_handled(recall)).status == "recalled"
        assert [m["deleted"] for m in await w.sandbox.bot_messages(CHAT)] == [True, True]
        assert [m["deleted"] for m in await w.sandbox.bot_messages("oc_ops")] == [False]


async def test_without_a_source_url_sources_are_file_and_heading(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb, use_llm=False) as w, running(w.settings, api_port=0) as run:
        msg_id = await w.sandbox.say(CHAT, "网关默认端口是多少？", mention_bot=True)
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [answer] = await w.bot_answers(CHAT, msg_id)
        sources = elements(card_of(answer))["sources"]
        assert re.match(r"\*\*来源\*\*\n1\. \d\d-[a-z-]+\.md › ", sources) and "](" not in sources


async def test_reply_format_text_sends_plain_text(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb, use_llm=False, reply_format="text") as w, \
            running(w.settings, api_port=0) as run:
        msg_id = await w.sandbox.say(CHAT, "加密 key 怎么配置？")
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [answer] = await w.bot_answers(CHAT, msg_id)
        assert answer["msg_type"] == "text"
        assert answer["text"].startswith("文档里是这样写的：\n") and "来源：02-configuration.md ›" in answer["text"]
        assert "<font" not in answer["text"] and "可撤回我在本群的回答" not in answer["text"]


async def test_where_lark_refuses_cards_the_answer_is_said_as_text_once(tmp_path, sample_kb) -> None:
    async with world(tmp_path, sample_kb, use_llm=False) as w, running(w.settings, api_port=0) as run:
        await w.sandbox.faults(refuse_cards=True)
        msg_id = await w.sandbox.say(CHAT, "加密 key 怎么配置？")
        assert (await run.worker.wait_handled(msg_id)).status == "answered"
        [answer] = await w.bot_answers(CHAT, msg_id)
        assert answer["msg_type"] == "text"
        text = answer["text"]
        assert text.startswith("文档里是这样写的\n\n") and "encrypt_key" in text and "来源\n1. 02-configuration.md ›" in text
        assert text.endswith("说“豆哥撤回”可撤回我在本群的回答")
        recall = await w.sandbox.say(CHAT, "豆哥撤回")
        assert (await run.worker.wait_handled(recall)).status == "recalled"
        assert [m["deleted"] for m in await w.bot_answers(CHAT, msg_id)] == [True]


async def test_mentions_written_into_an_answer_never_notify_anyone(tmp_path, sample_kb) -> None:
    """Text from the LLM or a document is shown, never turned into an @mention (card or text)."""
    for reply_format in ("card", "text"):
        (tmp_path / reply_format).mkdir()
        async with world(tmp_path / reply_format, sample_kb, reply_format=reply_format) as w, \
                running(w.settings, api_port=0) as run:
            w.llm.reply = '请 <at user_id="all">所有人</at> 和 <at id=all></at> 看 `encrypt_key` 的配置 [1]'
            msg_id = await w.sandbox.say(CHAT, "加密 key 怎么配置？", mention_bot=True)
            assert (await run.worker.wait_handled(msg_id)).status == "answered"
            [answer] = await w.bot_answers(CHAT, msg_id)
            shown = said(answer) if reply_format == "card" else answer["text"]
            assert "所有人" in shown and "<at user_id" not in shown.replace("<\u200bat", "")
            if reply_format == "card":
                assert "<at" not in elements(card_of(answer))["answer"]
                assert card_as_text(card_of(answer)) == shown
