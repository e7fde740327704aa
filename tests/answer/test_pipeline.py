"""The whole decision: answer what the knowledge base knows, stay silent otherwise."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from larkdou.answer import build_answerer
from larkdou.kb import build_kb
from larkdou.message import Mention
from larkdou.sandbox.llm import NOT_IN_DOCS, create_app
from larkdou.serving import serving
from tests.kb.helpers import group_msg, settings_for, write_docs

BOT = Mention(key="@_user_1", name="豆哥", open_id="ou_bot")


async def test_group_answers_known_questions_with_excerpts_and_sources(sample_settings) -> None:  # type: ignore[no-untyped-def]
    answerer = build_answerer(sample_settings)
    for question, lang, header in (("how do I set the encrypt key?", "en", "From the docs:"),
                                   ("加密 key 怎么配置？", "zh", "文档里是这样写的：")):
        d = await answerer.decide(group_msg(question))
        assert (d.answer, d.reason, d.mode) == (True, "relevant", "extractive")
        assert d.reply is not None and d.reply.language == lang and d.reply.kind == "extractive"
        assert d.text.startswith(header + "\n")
        assert "encrypt_key" in d.text and "Excerpts from the knowledge base" not in d.text
        assert any(s.startswith("02-configuration.md ›") for s in d.sources)
        assert len(d.sources) <= 2 and len(d.text) < 1200
    await answerer.aclose()


@pytest.mark.parametrize("text", ["中午吃什么", "收到", "今天天气不错", "周末去哪玩？", "明天开会记得带电脑",
                                  "1", "2", "3", "redis", "fetch?"])
async def test_group_stays_silent_on_chitchat(sample_settings, text: str) -> None:  # type: ignore[no-untyped-def]
    d = await build_answerer(sample_settings).decide(group_msg(text))
    assert not d.answer and d.text == ""
    assert d.reason in ("chitchat", "not_relevant")


async def test_addressed_questions_are_answered_or_told_what_the_documents_cover(sample_settings) -> None:  # type: ignore[no-untyped-def]
    answerer = build_answerer(sample_settings, bot_open_id="ou_bot")
    d = await answerer.decide(group_msg("@豆哥 中午吃什么", mentions=[BOT]))
    assert (d.answer, d.reason, d.mode) == (True, "mentioned", "no_match")
    assert d.text.startswith("知识库里没有找到相关内容。") and "我的文档涵盖" in d.text and "I found" not in d.text
    d = await answerer.decide(group_msg("What is the capital of France?", chat_type="p2p"))
    assert d.mode == "no_match" and d.text.startswith("I found nothing about this in my documents.")
    assert "My documents cover:" in d.text and "知识库里没有" not in d.text
    d = await answerer.decide(group_msg("网关默认端口是多少？", chat_type="p2p"))
    assert (d.answer, d.reason, d.mode) == (True, "p2p", "extractive") and "6666" in d.text
    d = await answerer.decide(group_msg("@豆哥 redis", mentions=[BOT]))
    assert (d.answer, d.mode) == (True, "extractive") and "redis" in d.text.lower()


async def test_without_a_knowledge_base(tmp_path: Path) -> None:
    answerer = build_answerer(settings_for(tmp_path))
    d = await answerer.decide(group_msg("加密 key 怎么配置？", chat_type="p2p"))
    assert (d.answer, d.reason, d.mode) == (True, "no_kb", "notice")
    assert "larkdou kb build" in d.text
    assert not (await answerer.decide(group_msg("加密 key 怎么配置？"))).answer


async def test_a_rebuilt_knowledge_base_is_picked_up(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.md": "# Port\n\nThe gateway listens on port 6666.\n"})
    settings = settings_for(tmp_path / "work")
    answerer = build_answerer(settings)
    assert (await answerer.decide(group_msg("gateway port", chat_type="p2p"))).reason == "no_kb"
    build_kb(settings, docs, progress=False)
    d = await answerer.decide(group_msg("gateway port", chat_type="p2p"))
    assert d.answer and "6666" in d.text
    write_docs(docs, {"a.md": "# Port\n\nThe gateway listens on port 7001.\n"})
    build_kb(settings, docs, progress=False)
    assert "7001" in (await answerer.decide(group_msg("gateway port", chat_type="p2p"))).text


def _llm_settings(work_dir: Path, url: str, **llm) -> object:  # type: ignore[no-untyped-def]
    return settings_for(work_dir, llm={"base_url": f"{url}/v1", "model": "test", "api_key": "sk-test-secret",
                                       "timeout": 2, "retries": 2, **llm})


async def test_llm_answer_cites_its_sources(sample_work_dir: Path) -> None:
    app = create_app(api_key="sk-test-secret")
    async with serving(app) as url:
        answerer = build_answerer(_llm_settings(sample_work_dir, url))
        d = await answerer.decide(group_msg("how do I set the encrypt key?"))
        await answerer.aclose()
    assert (d.answer, d.reason, d.mode) == (True, "relevant", "llm")
    assert "[1]" in d.text and "\n\nSource: [1] 02-configuration.md ›" in d.text
    assert d.sources and len(d.sources) == 1
    prompt = app.state.llm.requests[0]["messages"][-1]["content"]
    assert "[1] (02-configuration.md › " in prompt and "Question: how do I set the encrypt key?" in prompt
    assert "[1] (02-configuration.md › 配置文件 config.ini › Setting the encrypt key" in prompt  # heading paths
    assert app.state.llm.calls == 1


@pytest.mark.parametrize("text,chat_type,mentioned", [("@豆哥 在吗？", "group", True), ("你好", "p2p", False),
                                                     ("hello!", "p2p", False)])
async def test_a_greeting_to_the_bot_gets_an_introduction(sample_settings, text, chat_type, mentioned) -> None:  # type: ignore[no-untyped-def]
    answerer = build_answerer(sample_settings)
    mentions = [BOT] if mentioned else []
    d = await answerer.decide(group_msg(text, mentions=mentions, mentioned_bot=mentioned, chat_type=chat_type))
    assert (d.answer, d.reason) == (True, "greeting") and "豆哥撤回" in d.text
    for silent in (group_msg("你好"), group_msg("@豆哥 谢谢", mentions=[BOT], mentioned_bot=True),
                   group_msg("收到", chat_type="p2p")):
        assert not (await answerer.decide(silent)).answer  # greetings to others, thanks, acks: silence
    await answerer.aclose()


async def test_llm_is_not_asked_about_chitchat(sample_work_dir: Path) -> None:
    app = create_app()
    async with serving(app) as url:
        answerer = build_answerer(_llm_settings(sample_work_dir, url))
        assert not (await answerer.decide(group_msg("中午吃什么"))).answer
        assert not (await answerer.decide(group_msg("@豆哥 收到", mentions=[BOT], mentioned_bot=True))).answer
        assert (await answerer.decide(group_msg("@豆哥 你好", mentions=[BOT], mentioned_bot=True))).reason == "greeting"
        await answerer.aclose()
    assert app.state.llm.calls == 0


async def test_an_answer_the_llm_marks_as_not_in_the_documents_is_not_sent(sample_work_dir: Path) -> None:
    for reply in (NOT_IN_DOCS, "抱歉，文档中没有提到这个问题。", "The answer is not in the provided documents."):
        async with serving(create_app(reply=reply)) as url:
            answerer = build_answerer(_llm_settings(sample_work_dir, url))
            group = await answerer.decide(group_msg("网关默认端口是多少？"))
            direct = await answerer.decide(group_msg("网关默认端口是多少？", chat_type="p2p"))
            await answerer.aclose()
        assert (group.answer, group.reason, group.text) == (False, "llm_declined", "")
        assert (direct.answer, direct.mode) == (True, "no_match") and "我的文档涵盖" in direct.text
        assert reply not in direct.text


async def test_llm_failures_are_retried_then_silent(sample_work_dir: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    app = create_app(fail_first=2, fail_status=500)
    async with serving(app) as url:
        answerer = build_answerer(_llm_settings(sample_work_dir, url))
        d = await answerer.decide(group_msg("how do I set the encrypt key?"))
        assert d.answer and app.state.llm.calls == 3  # two failures, then the answer

        app.state.llm.fail_first = 100
        caplog.set_level(logging.WARNING)
        d = await answerer.decide(group_msg("how do I set the encrypt key?", msg_id="om_2"))
        await answerer.aclose()
    assert (d.answer, d.reason, d.text) == (False, "llm_error", "")
    assert app.state.llm.calls == 6
    line = next(r.getMessage() for r in caplog.records if "LLM failed" in r.getMessage())
    assert "message_id=om_2" in line and "HTTP 500" in line
    assert "sk-test-secret" not in caplog.text


async def test_llm_timeouts_mean_silence(sample_work_dir: Path) -> None:
    app = create_app(hang=True)
    async with serving(app) as url:
        answerer = build_answerer(_llm_settings(sample_work_dir, url, timeout=0.3, retries=1))
        d = await answerer.decide(group_msg("how do I set the encrypt key?"))
        await answerer.aclose()
        app.state.llm.hang = False
    assert (d.answer, d.reason) == (False, "llm_error")
    assert app.state.llm.calls == 2


async def test_cancelling_a_decision_leaves_the_pipeline_usable(sample_work_dir: Path) -> None:
    app = create_app(latency=30)
    async with serving(app) as url:
        answerer = build_answerer(_llm_settings(sample_work_dir, url, concurrency=1))
        task = asyncio.create_task(answerer.decide(group_msg("how do I set the encrypt key?")))
        while app.state.llm.calls == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        app.state.llm.latency = 0
        d = await answerer.decide(group_msg("how do I set the encrypt key?", msg_id="om_2"))
        await answerer.aclose()
    assert d.answer and d.mode == "llm"


async def test_no_kb_with_an_llm_answers_direct_questions(tmp_path: Path) -> None:
    app = create_app(reply="你好，我是豆哥。")
    async with serving(app) as url:
        answerer = build_answerer(_llm_settings(tmp_path, url))
        d = await answerer.decide(group_msg("你是谁", chat_type="p2p"))
        await answerer.aclose()
    assert (d.answer, d.reason, d.text, d.mode) == (True, "no_kb", "你好，我是豆哥。", "llm")
