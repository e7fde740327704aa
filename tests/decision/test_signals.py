"""The text signals, each a pure function of the message."""

from __future__ import annotations

from larkdou.decision.signals import advice, asks, code, length, seeks_help, technical, text_signals, words

TRACEBACK = ("跑的时候挂了\nTraceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n"
             "ModuleNotFoundError: No module named 'faiss'")


def test_question_form_in_chinese_and_english() -> None:
    for question in ("请问 config.ini 在哪", "这个参数是啥意思", "怎么配置 encrypt key", "能不能用 redis？",
                     "How do I set the callback URL?", "does it work on windows"):
        assert asks(question) > 0, question
    for remark in ("好的", "我晚点再看", "今天好热", "see you tomorrow"):
        assert asks(remark) == 0, remark
    assert asks("请问怎么配置？为什么不生效？") > asks("怎么配置")


def test_help_seeking_and_answers_between_people() -> None:
    assert seeks_help("启动报错了，一直失败") > 0 and seeks_help("it fails with an error") > 0
    assert seeks_help("周末愉快") == 0
    assert advice("你试试重启一下就好了") > 0 and advice("try restarting, worked for me") > 0
    assert advice("请问怎么重启服务") == 0


def test_technical_tokens() -> None:
    assert technical("中午吃什么") == 0
    assert technical("pip install faiss-gpu 报错 ModuleNotFoundError") > technical("安装报错")
    assert technical("config.ini 里的 encrypt_key") > 0
    assert technical("升级到 v1.2.3 之后 cu118 不行了") > 0
    assert code(TRACEBACK) == 1.0 and code("$ pip install larkdou") == 1.0 and code("好的") == 0.0


def test_length_and_words_ignore_links_and_mentions() -> None:
    assert length("@张三 好") == length("好")
    assert length("看这个 https://example.com/a/very/long/path") == length("看这个")
    assert words("网关 端口 配置 加密") > words("网关 端口")
    signals = text_signals(TRACEBACK)
    assert set(signals) >= {"asks", "length", "words", "technical", "code", "advice"}
