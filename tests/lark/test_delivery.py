"""Answers as cards against the sandbox, and as text where a card is refused: something is always said,
and only once."""

from __future__ import annotations

import copy
import json

from larkdou.lark.cards import SourceLink, answer_card, answer_cards, card_as_text, recall_footer
from larkdou.lark.client import LarkClient
from larkdou.lark.delivery import card_said_as_text, reply_cards, reply_texts
from tests.lark.conftest import Sandbox

ANSWER = "**网关**默认端口是 `6666`：\n\n```bash\nlarkdou gateway --port 6666\n```\n\n<at id=all></at> 见 [文档](https://e.x/g)。"


def refused(card: dict) -> dict:
    """The same card with something Lark will not build (an unknown top-level key in JSON 2.0)."""
    bad = copy.deepcopy(card)
    bad["unknown_key"] = True
    return bad


async def test_cards_go_as_cards(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    question = await sandbox.post(chat_id, "端口？")
    cards = answer_cards(ANSWER, title="网关端口", footer=recall_footer())
    sent = await reply_cards(lark, question, cards, source_id=question, chat_id=chat_id)
    again = await reply_cards(lark, question, cards, source_id=question, chat_id=chat_id)  # a redelivery
    assert [s.message_id for s in again] == [s.message_id for s in sent]
    shown = await sandbox.bot_messages(chat_id)
    assert [m["msg_type"] for m in shown] == ["interactive"] and json.loads(shown[0]["content"]) == cards[0]


async def test_a_refused_card_is_said_as_text_instead(lark: LarkClient, sandbox: Sandbox, chat_id: str) -> None:
    question = await sandbox.post(chat_id, "端口？")
    good = answer_card("第一部分。", title="网关端口")
    bad = refused(answer_card(ANSWER, sources=[SourceLink("gateway.md", "https://e.x/g")], footer=recall_footer()))
    sent = await reply_cards(lark, question, [good, bad], source_id=question, chat_id=chat_id)
    await reply_cards(lark, question, [good, bad], source_id=question, chat_id=chat_id)  # again: nothing new
    shown = await sandbox.bot_messages(chat_id)
    assert [m["msg_type"] for m in shown] == ["interactive", "text"] and len(sent) == 2
    text = shown[1]["text"]
    assert text == card_as_text(bad)
    assert text.startswith("网关默认端口是 `6666`：\n\n```bash\nlarkdou gateway --port 6666\n```")
    assert "文档 (https://e.x/g)" in text and "来源\n1. gateway.md (https://e.x/g)" in text
    assert "<at id=all>" not in text and "<\u200bat id=all>" in text  # shown, never a mention
    assert shown[1]["parent_id"] == question


async def test_an_answer_begun_earlier_is_finished_without_repeating_a_part(lark: LarkClient, sandbox: Sandbox,
                                                                            chat_id: str) -> None:
    question = await sandbox.post(chat_id, "端口？")
    cards = answer_cards("\n\n".join([ANSWER] * 12), footer=recall_footer(), budget=1300)
    assert len(cards) >= 3
    recorded: list[int] = []

    async def record(part: int, info) -> bool:  # type: ignore[no-untyped-def]
        recorded.append(part)
        return part < 1  # e.g. a recall raced the second part: stop there

    first = await reply_cards(lark, question, cards, source_id=question, chat_id=chat_id, sent=record)
    assert recorded == [0, 1] and len(first) == 2  # the part that saw the recall was sent, nothing after it
    rest = await reply_cards(lark, question, cards, source_id=question, chat_id=chat_id, done={0, 1})
    shown = await sandbox.bot_messages(chat_id)
    assert len(rest) == len(cards) - 2 and len(shown) == len(cards)
    assert [json.loads(m["content"]) for m in shown] == cards


async def test_plain_text_parts_and_a_refused_final_card_said_as_text(lark: LarkClient, sandbox: Sandbox,
                                                                     chat_id: str) -> None:
    question = await sandbox.post(chat_id, "端口？")
    sent = await reply_texts(lark, question, ["第一部分", "第二部分"], source_id=question, chat_id=chat_id)
    again = await reply_texts(lark, question, ["第一部分", "第二部分"], source_id=question, chat_id=chat_id,
                              done={0})
    assert len(sent) == 2 and [s.message_id for s in again] == [sent[1].message_id]  # the uuid held it back
    said = await card_said_as_text(lark, question, answer_card("卡片**内容**"), source_id=question, chat_id=chat_id)
    shown = await sandbox.bot_messages(chat_id)
    assert [m["text"] for m in shown] == ["第一部分", "第二部分", "卡片内容"] and len(said) == 1
