"""Signals read from the knowledge base: how much of the message the documents know about.

Each is a function of the message and the loaded index, scaled so that it means the same on a
knowledge base of 30 chunks and one of 100,000:

- `retrieval`: the best raw BM25 score (not divided by the message's size), counted in units of the
  score one matched word found in 1% of the chunks gives; log1p of that. Roughly "how many
  informative words of the message the best passage holds".
- `matched`: the IDF of the message's words found in the best passage, each relative to the
  largest IDF this knowledge base can give (a word of one chunk), summed; log1p of that.
- `dense` (indexes with embeddings): the best passage's cosine similarity.

A large knowledge base matches a few words of almost anything, small talk included. So each signal
is reported relative to this knowledge base's own baseline: minus what a fixed list of small talk
(`CHATTER_PROBES`) gets from it on average (for `dense`, also divided by that small talk's spread).
`Reference` holds the baseline; `reference(kb)` measures it (a BM25 search per probe, and one batch
of embeddings with dense indexes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from larkdou.kb.index import KnowledgeBase
from larkdou.kb.tokens import tokenize

CHATTER_PROBES = [
    "中午一起吃饭吗", "哈哈哈哈", "好的收到", "明天下午开会", "周末去哪玩", "今天天气真好", "谢谢大家", "我先下班了",
    "这也太离谱了吧", "有人去食堂吗", "生日快乐", "早上好", "晚安各位", "笑死我了", "好家伙", "我也是这么想的",
    "lol", "see you tomorrow", "anyone up for lunch?", "thanks!", "good morning everyone", "nice work",
    "the meeting moved to 3pm", "happy friday", "这个价格还挺香的", "我晚点再看看", "快递到了没", "今天好累啊",
    "这个视频挺有意思", "老板说今晚要加班", "群里好热闹", "欢迎新同学",
]


@dataclass(frozen=True)
class Reference:
    """What small talk gets from a knowledge base: the baseline its signals are measured from."""

    retrieval: float = 0.0
    matched: float = 0.0
    dense_mean: float = 0.0
    dense_std: float = 1.0


def _idf(kb: KnowledgeBase, token: str) -> float:
    n, df = len(kb.chunks), kb.df.get(token, 0)
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def word_unit(kb: KnowledgeBase) -> float:
    """The BM25 score of one matched word found in 1% of the chunks (or in one chunk of a small
    knowledge base), once in a passage of average length: the unit `retrieval` is counted in."""
    n = max(len(kb.chunks), 1)
    df = max(1.0, n / 100)
    return max(math.log(1 + (n - df + 0.5) / (df + 0.5)), 1e-6)


def raw_lexical(kb: KnowledgeBase, tokens: list[str]) -> tuple[float, float]:
    """(retrieval, matched) before the baseline is taken off."""
    distinct = set(tokens)
    if not distinct or not kb.chunks:
        return 0.0, 0.0
    ranked = kb.lexical(tokens, 1)
    if not ranked:
        return 0.0, 0.0
    best, score = ranked[0]
    have = set(kb.chunks[best].tokens or tokenize(kb.chunks[best].index_text()))
    top_idf = math.log(1 + (len(kb.chunks) - 0.5) / 1.5)
    matched = sum(_idf(kb, t) for t in distinct & have) / max(top_idf, 1e-6)
    return math.log1p(score / word_unit(kb)), math.log1p(matched)


def reference(kb: KnowledgeBase) -> Reference:
    """The baseline of `kb`, measured on `CHATTER_PROBES`."""
    lexical = [raw_lexical(kb, tokenize(p)) for p in CHATTER_PROBES]
    ref = Reference(float(np.mean([r for r, _ in lexical])), float(np.mean([m for _, m in lexical])))
    tops = kb.best_similarities(CHATTER_PROBES) if kb.dense else []
    if tops:
        ref = Reference(ref.retrieval, ref.matched, float(np.mean(tops)), float(max(np.std(tops), 0.01)))
    return ref


def retrieval_signals(kb: KnowledgeBase, text: str, ref: Reference, qvec: np.ndarray | None = None) -> dict[str, float]:
    """`retrieval` and `matched` (and `dense` when the index has vectors) of `text`, relative to `ref`.
    `qvec`: the message's vector, when already embedded."""
    retrieval, matched = raw_lexical(kb, tokenize(text))
    out = {"retrieval": retrieval - ref.retrieval, "matched": matched - ref.matched}
    if kb.dense:
        sims = kb.similarities(text, qvec)
        best = float(np.max(sims)) if sims is not None and sims.size else ref.dense_mean
        out["dense"] = (best - ref.dense_mean) / ref.dense_std
    return out
