"""With default settings on the guide's knowledge base, questions it answers get answers and chatter
gets silence: end to end through the answerer, as unaddressed group messages."""

from __future__ import annotations

import pytest

from larkdou.answer import build_answerer
from tests.kb.helpers import group_msg

ANSWERABLE = [
    "飞书机器人的回调地址应该填什么？",
    "请问 encrypt_key 和 verification_token 要在哪里配置",
    "收不到群消息，需要开通哪些权限？",
    "事件订阅要添加哪个事件",
    "curl fetch 接口超时了怎么办",
    "HFValidationError: Repo id must be in the form 这个报错怎么解决",
    "怎么测试撤回功能？",
    "redis 在 CentOS 上怎么安装",
    "飞书推送的事件签名怎么校验",
    "Lark 推送事件失败后会重试几次？",
    "撤回消息返回 230009 是什么原因",
    "tenant_access_token 失效返回 99991663 该怎么处理",
    "长连接模式最多能建立多少个连接",
    "消息去重应该用 message_id 还是 event_id",
    "url_verification 的 challenge 要怎么返回",
    "How does Lark sign the event callback request?",
    "What is the rate limit for recalling messages?",
    "Can I update a card message after sending it?",
    "正式上线前需要做什么",
    "reply 接口的 uuid 参数有什么作用",
    "不好意思我是新手，公网 IP 的 6666 端口访问不了，安全组要怎么配？",
    "群里发消息 ECS 没收到，redis 里也没有，是哪里没配好",
]
CHATTER = ["中午吃什么", "1", "这个比例也太高了吧", "不知道有没有用", "测试还能用不", "这张表我没看懂", "收到",
           "哈哈哈", "明天几点开会？", "周末去哪玩", "好的谢谢", "今天好热啊"]


async def test_questions_the_guide_answers_are_answered(guide_settings) -> None:  # type: ignore[no-untyped-def]
    answerer = build_answerer(guide_settings)
    silent = []
    for n, question in enumerate(ANSWERABLE):
        d = await answerer.decide(group_msg(question, msg_id=f"om_{n}"))
        if not d.answer:
            silent.append((question, d.reason, d.score))
        else:
            assert d.reason == "relevant" and d.text and d.sources
    await answerer.aclose()
    assert silent == []


@pytest.mark.parametrize("text", CHATTER)
async def test_chatter_stays_silent(guide_settings, text: str) -> None:  # type: ignore[no-untyped-def]
    answerer = build_answerer(guide_settings)
    d = await answerer.decide(group_msg(text))
    await answerer.aclose()
    assert (d.answer, d.text) == (False, "")
    assert d.reason in ("chitchat", "not_relevant")
