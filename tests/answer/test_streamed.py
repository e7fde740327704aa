"""LLM answers as streams: nothing is asked of the LLM until the stream is read, the text arrives in
pieces, and what a stream comes to (answer, decline, failure) is what the complete decision says."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from larkdou.answer import build_answerer
from larkdou.answer.base import Decision
from larkdou.answer.prompt import DECLINE_MAX
from larkdou.answer.streamed import showable, settle
from larkdou.errors import LLMError
from larkdou.message import Mention
from larkdou.sandbox.llm import NOT_IN_DOCS, create_app
from larkdou.serving import serving
from tests.kb.helpers import group_msg, settings_for

BOT = Mention(key="@_user_1", name="豆哥", open_id="ou_bot")
LONG = ("在 `[frontend.lark_group]` 里把 `encrypt_key` 设成飞书开发者后台“事件与回调 → 加密策略”里的 Encrypt Key，"
        "网关收到事件后先验签再解密 [1]。改完配置要重启网关，之后飞书推来的事件都会按这个密钥解密；"
        "如果密钥不对，网关会拒绝事件并在日志里写明原因，事件不会进入队列，也不会被回答 [1]。") * 2


def llm_settings(work_dir: Path, url: str):  # type: ignore[no-untyped-def]
    return settings_for(work_dir, llm={"base_url": f"{url}/v1", "model": "test", "timeout": 5, "retries": 0})


async def read(d: Decision) -> tuple[list[str], str]:
    """The pieces of a streamed decision, and the error that ended it ("" when none)."""
    assert d.stream is not None
    pieces: list[str] = []
    try:
        async with contextlib.aclosing(d.stream.pieces()) as stream:  # type: ignore[type-var]
            async for piece in stream:
                pieces.append(piece)
    except LLMError as exc:
        return pieces, str(exc)
    return pieces, ""


@pytest.mark.parametrize("text,addressed,shown", [
    ("", True, False), ("NO_", True, False), ("NO_ANSWER", True, False), (" no_answer。", True, False),
    ("N", True, False), ("网关", True, True), ("Nginx", True, True),
    ("网关默认端口是 6666。", False, False),  # short: could still turn into "文档中没有提到…"
    ("x" * DECLINE_MAX, False, True),
    ("NO_ANSWER" + " because" * 40, False, False),
    ("文档中没有提到这个问题，不过" + "网关的配置说明" * 30, False, True),  # long: an answer, whatever it says
])
def test_what_may_be_shown_while_the_llm_writes(text: str, addressed: bool, shown: bool) -> None:
    assert showable(text, addressed) is shown


async def test_a_streamed_answer_starts_the_llm_only_when_read_and_ends_as_the_complete_one(
        sample_work_dir: Path) -> None:
    app = create_app(reply=LONG)
    async with serving(app) as url:
        answerer = build_answerer(llm_settings(sample_work_dir, url))
        d = await answerer.decide(group_msg("加密 key 怎么配置？"), stream=True)
        assert (d.answer, d.reason, d.mode, d.text, d.reply) == (True, "relevant", "llm", "", None)
        assert d.stream is not None and not d.stream.addressed and d.stream.language == "zh"
        assert app.state.llm.calls == 0  # nothing asked yet
        pieces, error = await read(d)
        assert error == "" and len(pieces) > 50 and "".join(pieces) == LONG
        assert app.state.llm.requests[-1]["stream"] is True
        final = d.stream.finish("".join(pieces))
        assert final.body == LONG.strip() and [s.ref for s in final.sources] == ["[1]"]

        complete = await answerer.decide(group_msg("加密 key 怎么配置？", msg_id="om_2"))
        assert complete.stream is None and complete.text == final.to_text()
        assert "stream" not in app.state.llm.requests[-1]  # written out in one request
        settled = await settle(await answerer.decide(group_msg("加密 key 怎么配置？", msg_id="om_3"), stream=True))
        assert settled.stream is None and settled.text == complete.text and settled.reason == "relevant"
        await answerer.aclose()


async def test_a_decline_is_silence_in_a_group_and_a_pointer_for_a_question_to_the_bot(
        sample_work_dir: Path) -> None:
    async with serving(create_app(reply=NOT_IN_DOCS)) as url:
        answerer = build_answerer(llm_settings(sample_work_dir, url), bot_open_id="ou_bot")
        group = await settle(await answerer.decide(group_msg("网关默认端口是多少？"), stream=True))
        asked = await answerer.decide(group_msg("@豆哥 网关默认端口是多少？", mentions=[BOT]), stream=True)
        assert asked.stream is not None and asked.stream.addressed
        direct = await settle(asked)
        await answerer.aclose()
    assert (group.answer, group.reason, group.text) == (False, "llm_declined", "")
    assert (direct.answer, direct.reason, direct.mode) == (True, "mentioned", "no_match")
    assert NOT_IN_DOCS not in direct.text


async def test_a_stream_that_breaks_says_what_it_can(sample_work_dir: Path) -> None:
    app = create_app(reply=LONG, stream_fail_after=30)
    async with serving(app) as url:
        answerer = build_answerer(llm_settings(sample_work_dir, url), bot_open_id="ou_bot")
        group = await answerer.decide(group_msg("加密 key 怎么配置？"), stream=True)
        pieces, error = await read(group)
        assert len(pieces) == 30 and error
        assert group.stream is not None
        # nothing shown yet: silence; part of it shown: the excerpt from the documents instead
        assert group.stream.failed(False) is None
        excerpt = group.stream.failed(True)
        assert excerpt is not None and excerpt.kind == "extractive" and "encrypt_key" in excerpt.body
        asked = await settle(await answerer.decide(group_msg("@豆哥 加密 key 怎么配置？", mentions=[BOT]), stream=True))
        assert (asked.answer, asked.mode) == (True, "extractive") and "encrypt_key" in asked.text
        await answerer.aclose()
    assert "sk-" not in error


async def test_without_a_knowledge_base_a_question_to_the_bot_is_never_left_unanswered(tmp_path: Path) -> None:
    app = create_app(reply=NOT_IN_DOCS)
    async with serving(app) as url:
        answerer = build_answerer(llm_settings(tmp_path, url))
        declined = await settle(await answerer.decide(group_msg("你是谁", chat_type="p2p"), stream=True))
        app.state.llm.fail_first, app.state.llm.reply = 100, None
        failed = await settle(await answerer.decide(group_msg("你是谁", chat_type="p2p", msg_id="om_2"), stream=True))
        await answerer.aclose()
    assert (declined.answer, declined.reason, declined.mode) == (True, "no_kb", "notice")
    assert "larkdou kb build" in declined.text
    assert (failed.answer, failed.mode) == (True, "notice") and "语言模型暂时不可用" in failed.text
