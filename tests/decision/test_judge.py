"""With an LLM, a borderline group decision is put to it as a yes/no question; it is never the only
gate, stays within its share of the LLM's rate, and the model decides when the LLM cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from larkdou.answer import build_answerer
from larkdou.decision.decide import Decider
from larkdou.decision.judge import CHECK_SYSTEM, LLM_MARGIN
from larkdou.kb.index import open_kb
from larkdou.sandbox.llm import create_app, default_reply
from larkdou.serving import serving
from tests.kb.helpers import group_msg, settings_for

# terse topic phrases: the model is rarely sure about them either way
CANDIDATES = ["fetch_token 设置", "redis 存储 配置", "网关的端口", "撤回的关键词", "加密 key", "签名校验", "密钥配置",
              "数据存在哪里", "知识库的构建", "网关端口 6666", "kb build 知识库", "gateway healthz 接口", "消息 队列",
              "部署文档", "大模型", "死信队列", "larkdou demo 沙箱", "sandbox 页面", "撤回时间窗口", "飞书群",
              "群聊 机器人", "配置文件", "多个网关部署"]


class ScriptedLLM:
    """Answers the check with `check` ("YES", "NO", anything) and questions like the default stand-in."""

    def __init__(self, check: str = "YES"):
        self.check = check
        self.checks = 0

    def __call__(self, messages: list[dict[str, Any]]) -> str:
        if messages[0]["content"] == CHECK_SYSTEM:
            self.checks += 1
            return self.check
        return default_reply(messages)


def _borderline(work_dir: Path) -> tuple[str, str]:
    """(a borderline message the model stays silent on, one it answers)."""
    decider = Decider.for_kb(open_kb(settings_for(work_dir)))
    margins = {q: decider.decide(q).margin for q in CANDIDATES}
    below = [q for q, m in margins.items() if -LLM_MARGIN < m < 0]
    above = [q for q, m in margins.items() if 0 <= m < LLM_MARGIN]
    assert below and above, margins
    return below[0], above[0]


def _settings(work_dir: Path, url: str, **kb: Any):  # type: ignore[no-untyped-def]
    return settings_for(work_dir, llm={"base_url": f"{url}/v1", "model": "test", "timeout": 2, "retries": 0},
                        kb=kb)


async def test_a_borderline_message_is_decided_by_the_llm_check(sample_work_dir: Path) -> None:
    below, above = _borderline(sample_work_dir)
    llm = ScriptedLLM("YES")
    async with serving(create_app(reply=llm)) as url:
        answerer = build_answerer(_settings(sample_work_dir, url))
        d = await answerer.decide(group_msg(below))
        assert d.answer and d.reason == "relevant" and llm.checks == 1  # rescued, then answered by the LLM
        llm.check = "NO, this is not a question."
        d = await answerer.decide(group_msg(above, msg_id="om_2"))
        assert (d.answer, d.reason) == (False, "llm_check") and llm.checks == 2  # counted apart in /metrics
        stats = answerer._judge.stats  # noqa: SLF001  (what the check changed)
        await answerer.aclose()
    assert stats["llm_checked"] == 2 and stats["llm_check_to_answer"] == 1 and stats["llm_check_to_silence"] == 1


async def test_clear_cases_are_never_put_to_the_llm(sample_work_dir: Path) -> None:
    llm = ScriptedLLM("NO")
    app = create_app(reply=llm)
    async with serving(app) as url:
        answerer = build_answerer(_settings(sample_work_dir, url))
        assert (await answerer.decide(group_msg("加密 key 怎么配置？"))).answer
        assert not (await answerer.decide(group_msg("中午吃什么", msg_id="om_2"))).answer
        assert not (await answerer.decide(group_msg("今天天气不错", msg_id="om_3"))).answer
        await answerer.aclose()
    assert llm.checks == 0 and app.state.llm.calls == 1  # only the answer to the real question


async def test_the_check_can_be_switched_off_and_fails_over_to_the_model(sample_work_dir: Path) -> None:
    below, above = _borderline(sample_work_dir)
    llm = ScriptedLLM("YES")
    async with serving(create_app(reply=llm)) as url:
        off = build_answerer(_settings(sample_work_dir, url, llm_check=False))
        assert not (await off.decide(group_msg(below))).answer and llm.checks == 0
        await off.aclose()
        llm.check = "maybe"  # neither yes nor no: the model's verdict stands
        unclear = build_answerer(_settings(sample_work_dir, url))
        assert not (await unclear.decide(group_msg(below))).answer
        assert (await unclear.decide(group_msg(above, msg_id="om_2"))).answer
        assert unclear._judge.stats["llm_check_unclear"] == 2  # noqa: SLF001
        await unclear.aclose()
    async with serving(create_app(fail_first=100, fail_status=500)) as url:
        failing = build_answerer(_settings(sample_work_dir, url))
        d = await failing.decide(group_msg(below))
        assert (d.answer, d.reason) == (False, "not_relevant")
        assert failing._judge.stats["llm_check_failed"] == 1  # noqa: SLF001
        await failing.aclose()


async def test_checks_stay_within_half_the_llm_rate(sample_work_dir: Path) -> None:
    below, _ = _borderline(sample_work_dir)
    llm = ScriptedLLM("YES")
    async with serving(create_app(reply=llm)) as url:
        answerer = build_answerer(settings_for(sample_work_dir, llm={"base_url": f"{url}/v1", "model": "test",
                                                                     "rpm": 2, "retries": 0}))
        # streamed: the answer's own LLM call (which would wait for the next rpm slot) is not made here
        first = await answerer.decide(group_msg(below), stream=True)
        second = await answerer.decide(group_msg(below, msg_id="om_2"), stream=True)  # no slot free: the model decides
        stats = answerer._judge.stats  # noqa: SLF001
        await answerer.aclose()
    assert first.answer and not second.answer
    assert llm.checks == 1 and stats["llm_check_skipped"] == 1
