"""Who is addressed and what is never answered, before any retrieval."""

from __future__ import annotations

import pytest

from larkdou.answer.policy import question_text, route
from larkdou.kb.chitchat import is_chitchat
from larkdou.message import Mention
from tests.kb.helpers import group_msg

BOT = Mention(key="@_user_1", name="豆哥", open_id="ou_bot")
ALICE = Mention(key="@_user_2", name="Alice", open_id="ou_alice")


def test_direct_chat_is_addressed() -> None:
    r = route(group_msg("网关端口是多少", chat_type="p2p"))
    assert (r.reason, r.addressed, r.silence) == ("p2p", True, "")


def test_mention_flag_from_the_gateway() -> None:
    assert route(group_msg("@豆哥 端口?", mentions=[BOT], mentioned_bot=True)).reason == "mentioned"


def test_mention_recognised_by_open_id_not_by_name() -> None:
    msg = group_msg("@豆哥 端口是多少", mentions=[BOT])
    assert route(msg, bot_open_id="ou_bot").reason == "mentioned"
    assert route(msg, bot_open_id="ou_other").reason == "group"
    impostor = Mention(key="@_user_3", name="豆哥", open_id="ou_impostor")
    assert route(group_msg("@豆哥 端口", mentions=[impostor]), bot_open_id="ou_bot").reason == "group"


def test_question_loses_its_mentions() -> None:
    msg = group_msg("@豆哥 @Alice 加密 key 怎么配置？ @_user_9", mentions=[BOT, ALICE])
    assert question_text(msg) == "加密 key 怎么配置？"


@pytest.mark.parametrize("text", ["收到", "好的，谢谢！", "@豆哥 谢谢", "哈哈哈哈", "👍👍", "thanks a lot!",
                                  "大家早上好", "ok", "辛苦了🙏", "see you tomorrow"])
def test_chitchat_is_silent_even_when_addressed(text: str) -> None:
    assert route(group_msg(text, mentions=[BOT], mentioned_bot=True)).silence == "chitchat"
    assert route(group_msg(text, mentions=[BOT], chat_type="p2p")).silence == "chitchat"


@pytest.mark.parametrize("text", ["加密 key 怎么配置？", "how do I set the encrypt key?", "谢谢，那 fetch_token 填在哪？",
                                  "is redis fine?", "中午吃什么"])
def test_questions_are_not_chitchat(text: str) -> None:
    assert not is_chitchat(text)


def test_non_text_and_bot_messages_are_silent() -> None:
    assert route(group_msg("x", chat_type="p2p", message_type="image")).silence == "not_text"
    assert route(group_msg("加密 key 怎么配置", chat_type="p2p", sender_type="app")).silence == "from_bot"
    assert route(group_msg("@豆哥", mentions=[BOT], mentioned_bot=True)).silence == "empty"


@pytest.mark.parametrize("text", ["解决了", "ok 了", "OK了", "好了，谢谢！", "搞定", "it works now, thanks", "that worked",
                                  "好的我试试", "谢谢，问题解决了"])
def test_saying_it_is_solved_is_silent_even_in_reply_to_the_bot(text: str) -> None:
    assert route(group_msg(text, mentions=[BOT], mentioned_bot=True)).silence == "chitchat"
    assert route(group_msg(text)).silence == "chitchat"


@pytest.mark.parametrize("text", ["解决了吗？", "is it fixed now?", "还是不行，报错是 bad_signature", "那助手呢？",
                                  "可以了吗"])
def test_asking_whether_it_is_solved_is_not(text: str) -> None:
    assert route(group_msg(text, mentions=[BOT], mentioned_bot=True)).silence == ""
