"""Tokens for retrieval: jieba for Chinese runs, plain lower-cased words for English and code.

Identifiers are kept whole and also split into their parts (`encrypt_key` → `encrypt_key`, `encrypt`,
`key`; `fetchToken` → `fetchtoken`, `fetch`, `token`), so a question in words finds the config key.
Plain English words are stemmed (Snowball: "recalling", "recalled" → "recal"; "edits" → "edit"), and
an acronym's plural is the acronym ("LLMs" → "llm", "APIs" → "api"). A word jieba made up from a
demonstrative and the word after it ("那沙盒呢" → "那沙盒") is the word ("沙盒").
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Container, Iterator

import jieba
import snowballstemmer

jieba.setLogLevel(logging.WARNING)
_jieba_lock = threading.Lock()
_jieba_ready = False

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[A-Za-z0-9_]+(?:[.\-][A-Za-z0-9_]+)*")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_ACRONYM_PLURAL = re.compile(r"[A-Z]{2,}s")
_DEMONSTRATIVES = "那这哪"

EN_STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does doing for from had has have how i if in
into is it its me my of on or our please should so than that the their them then there these they
this to was we were what when where which who why will with would you your yours hi hello hey
""".split())

ZH_STOPWORDS = frozenset("""
的 了 吗 呢 吧 啊 呀 哦 嗯 是 在 和 与 及 或 就 都 也 还 又 把 被 让 给 对 从 向 到 这 那 这个 那个 这样 那样
怎么 怎么样 怎样 如何 什么 为什么 哪 哪里 哪个 哪些 请问 请 一下 一个 可以 能 能不能 可不可以 要 需要 应该
我 你 您 他 她 它 我们 你们 他们 大家 自己 有 没有 没 不 很 太 吧 么 嘛 之 其 中 里 上 下 时 时候
有人 一起 今天 明天 昨天 现在 已经 然后 还是 就是 因为 所以 但是 如果 知道 觉得 好 去 来 说 看 想 做 个 些 点
""".split())


def _ensure_jieba() -> None:
    global _jieba_ready
    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.initialize()
                _jieba_ready = True


_stemmer = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A plain lower-case English word's stem; identifiers, numbers and short words as they are."""
    return _stemmer.stemWord(word) if len(word) > 3 and word.isalpha() and word.isascii() else word


def _word_tokens(word: str) -> list[str]:
    if _ACRONYM_PLURAL.fullmatch(word):
        word = word[:-1]  # "LLMs", "GPUs": not the camel-case parts "ll" and "ms"
    lower = word.lower()
    out = [lower]
    parts = [p for piece in re.split(r"[_.\-]+", word) for p in _CAMEL.findall(piece)]
    if len(parts) > 1:
        out.extend(p.lower() for p in parts)
    # single letters and one- or two-digit numbers ("1", "2", list markers) say nothing about a topic
    return [_stem(t) for t in out if t not in EN_STOPWORDS and len(t) > (2 if t.isdigit() else 1)]


def _groups(text: str) -> Iterator[list[str]]:
    """The tokens of each word of `text` in order: an identifier's whole form first, then its parts."""
    _ensure_jieba()
    pos = 0
    for m in _CJK_RUN.finditer(text):
        for w in _WORD.findall(text[pos:m.start()]):
            yield _word_tokens(w)
        for t in jieba.cut_for_search(m.group()):
            if len(t) >= 3 and t[0] in _DEMONSTRATIVES and not jieba.dt.FREQ.get(t):
                t = t[1:]  # "那沙盒" (not a dictionary word) is "沙盒"
            if t not in ZH_STOPWORDS:
                yield [t]
        pos = m.end()
    for w in _WORD.findall(text[pos:]):
        yield _word_tokens(w)


def tokenize(text: str) -> list[str]:
    """Retrieval tokens of `text`, in order, stopwords and punctuation removed."""
    return [t for group in _groups(text) for t in group]


def query_tokens(text: str, known: Container[str]) -> list[str]:
    """Tokens of a question: as `tokenize`, but an identifier that the knowledge base knows whole
    (`known`: its vocabulary) counts once, not also as its parts ("store.py", "HuixiangDou")."""
    return [t for group in _groups(text) for t in (group[:1] if len(group) > 1 and group[0] in known else group)]
