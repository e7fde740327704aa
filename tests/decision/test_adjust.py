"""`kb build --good/--bad` adjusts the shipped decision; it never does worse on the examples than the
shipped model, warns when there are too few, and `[kb] threshold` overrides it."""

from __future__ import annotations

from pathlib import Path

from larkdou.answer import build_answerer
from larkdou.decision.adjust import adjust
from larkdou.decision.decide import Decider, model_for
from larkdou.kb import build_kb, open_kb, sample_docs_dir
from tests.kb.helpers import group_msg, settings_for, write_docs

# a group whose members post terse topic phrases rather than questions
TERSE = ["网关端口 6666", "encrypt_key 配置", "recall_keywords 撤回关键词", "fetch_token 设置", "redis 存储 配置",
         "kb build 知识库", "长连接 receive_mode", "gateway healthz 接口", "larkdou demo 沙箱", "llm base_url rpm",
         "网关的端口", "撤回的关键词", "知识库的构建", "大模型的配置", "加密 key", "密钥配置", "签名校验", "死信队列",
         "多个网关部署", "数据存在哪里", "verification token 位置", "app secret 来源", "webhook_url 地址",
         "sqlite 存储路径", "kb eval 标注格式", "deepseek 大模型", "撤回时间窗口", "assistant 端口 8888",
         "环境变量 密钥", "sandbox 页面"]
CHATTER = ["中午吃什么", "今天天气不错", "周末去哪玩", "明天开会记得带电脑", "晚上一起打球吗", "这个电影好看吗",
           "我先下班了", "下午茶点了奶茶", "谁有充电宝", "快递到了没", "今天好累", "最近好忙啊", "这个价格还挺香的",
           "老板说今晚要加班", "群里好热闹", "周一综合症", "困死了", "咖啡续命", "下周放假吗", "几号发工资",
           "楼下新开了家奶茶店", "外面下雨了", "有人去食堂吗", "一起点外卖不", "我在地铁上", "开车呢，晚点回",
           "我今天请假了", "下周出差", "这个活动什么时候报名", "会场在几楼"]


def _files(tmp_path: Path, good: list[str], bad: list[str]) -> tuple[Path, Path]:
    write_docs(tmp_path, {"good.txt": "\n".join(good) + "\n", "bad.txt": "# small talk\n" + "\n".join(bad) + "\n"})
    return tmp_path / "good.txt", tmp_path / "bad.txt"


def test_examples_the_shipped_model_misses_adjust_it_and_are_kept(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "work")
    plain = build_kb(settings, sample_docs_dir(), progress=False)
    assert plain.decision is not None and plain.decision.source == "default"
    shipped = Decider.for_kb(open_kb(settings))
    missed = [q for q in TERSE if not shipped.decide(q).answer]
    assert len(missed) >= 5  # the shipped model wants more than a topic phrase

    good, bad = _files(tmp_path, TERSE, CHATTER)
    report = build_kb(settings, sample_docs_dir(), good=good, bad=bad, progress=False)
    adj = report.decision
    assert adj is not None and adj.source == "examples" and (adj.good, adj.bad) == (30, 30)
    assert adj.f1 is not None and adj.default_f1 is not None and adj.f1 > adj.default_f1
    assert not any(line.startswith("warning") for line in adj.describe())
    kb = open_kb(settings)
    assert model_for(kb).name.endswith("+examples")
    adjusted = Decider.for_kb(kb)
    assert sum(adjusted.decide(q).answer for q in missed) > 0
    assert not any(adjusted.decide(q).answer for q in CHATTER)

    again = build_kb(settings, sample_docs_dir(), progress=False)  # no examples given: the stored ones are used
    assert again.decision == adj


def test_the_adjustment_is_never_worse_than_the_shipped_model(sample_settings) -> None:  # type: ignore[no-untyped-def]
    kb = open_kb(sample_settings)
    questions = ["加密 key 怎么配置？", "网关默认端口是多少？", "how do I recall the bot's messages?", "redis 存储怎么配置？"]
    cases = [
        (questions, CHATTER[:5]),  # the shipped model is right: kept
        (CHATTER[:5], questions),  # labels the wrong way round
        (TERSE[:8] + CHATTER[:3], CHATTER[3:9] + questions[:2]),  # a muddle
    ]
    for good, bad in cases:
        adj = adjust(kb, good, bad)
        assert adj.f1 is not None and adj.default_f1 is not None and adj.f1 >= adj.default_f1
        if adj.source == "default":
            assert adj.f1 == adj.default_f1 and adj.threshold == model_for(kb).threshold
    kept = adjust(kb, questions, CHATTER[:5])
    assert kept.source == "default" and any("shipped model is kept" in line for line in kept.describe())


def test_too_few_examples_get_a_warning(sample_settings) -> None:  # type: ignore[no-untyped-def]
    adj = adjust(open_kb(sample_settings), TERSE[:10], CHATTER[:10])
    assert any(line.startswith("warning: only 10 good / 10 bad examples") for line in adj.describe())
    assert adjust(open_kb(sample_settings), [], []).describe()[0].endswith("give --good and --bad examples to adjust them)")


async def test_the_threshold_key_overrides_the_decision(sample_work_dir: Path) -> None:
    question = group_msg("加密 key 怎么配置？")
    assert (await build_answerer(settings_for(sample_work_dir)).decide(question)).answer
    strict = build_answerer(settings_for(sample_work_dir, kb={"threshold": 0.999}))
    d = await strict.decide(question)
    assert (d.answer, d.reason) == (False, "not_relevant")
    assert (await strict.decide(group_msg("加密 key 怎么配置？", chat_type="p2p"))).answer  # addressed: still answered


async def test_a_running_answerer_picks_up_a_rebuilt_decision(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "work")
    build_kb(settings, sample_docs_dir(), progress=False)
    answerer = build_answerer(settings)
    shipped = Decider.for_kb(open_kb(settings))
    missed = [q for q in TERSE if not shipped.decide(q).answer]
    before = [(await answerer.decide(group_msg(q, msg_id=f"om_{n}"))).answer for n, q in enumerate(missed)]
    assert not any(before)
    good, bad = _files(tmp_path, TERSE, CHATTER)
    build_kb(settings, sample_docs_dir(), good=good, bad=bad, progress=False)
    after = [(await answerer.decide(group_msg(q, msg_id=f"om_b{n}"))).answer for n, q in enumerate(missed)]
    await answerer.aclose()
    assert any(after)
