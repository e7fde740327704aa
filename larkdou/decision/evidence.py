"""Signals read from the knowledge base: how much of the message the documents know about.

Each is a pure function of the message and the loaded index, and is scaled so that it means the same
on a knowledge base of 30 chunks and one of 100,000:

- `retrieval`: the best raw BM25 score (not divided by the message's size) over the score a
  passage gets for one perfectly matched, moderately rare word of this knowledge base. Roughly "how
  many informative words of the message the best passage contains".
- `matched`: the IDF of the message words found in the best passage, each IDF taken relative to
  the largest IDF this knowledge base can give (a word in one chunk), summed.
- `known`: the share of the message's distinct words that occur anywhere in the documents.
- `dense`: with embeddings, the best passage's cosine similarity minus the similarity this
  knowledge base gives to plain chatter (a fixed list of small talk, measured at build time), in
  units of that chatter's spread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from larkdou.kb.index import KnowledgeBase
from larkdou.kb.tokens import tokenize

# measured at build time against the knowledge base, to scale the dense signal (see `dense_reference`)
CHATTER_PROBES = [
    "中午吃什么", "哈哈哈哈", "好的收到", "明天下午开会", "周末去哪玩", "今天天气不错", "谢谢大家", "我先下班了",
    "这个也太离谱了吧", "有人一起去吃饭吗", "生日快乐", "早上好", "晚安", "笑死我了", "好家伙", "我也是",
    "lol", "see you tomorrow", "anyone up for lunch?", "thanks!", "good morning everyone", "nice work",
    "the meeting moved to 3pm", "happy friday", "这张表我没看懂", "不知道有没有用", "测试还能用不", "快递到了没",
]
K1 = 1.5  # bm25s defaults
B = 0.75


def _idf(kb: KnowledgeBase, token: str) -> float:
    n, df = len(kb.chunks), kb.df.get(token, 0)
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def word_unit(kb: KnowledgeBase) -> float:
    """The BM25 score of one matched word found in 1% of the chunks (or one chunk of a small knowledge base),
    once in a passage of average length: the unit `retrieval` is counted in."""
    n = max(len(kb.chunks), 1)
    df = max(1.0, n / 100)
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return max(idf * (K1 + 1) / (1 + K1), 1e-6)


def retrieval_signals(kb: KnowledgeBase, text: str, tokens: list[str] | None = None) -> dict[str, Any]:
    """`retrieval`, `matched`, `known` (and `dense` when the index has vectors) for `text`."""
    tokens = tokenize(text) if tokens is None else tokens
    distinct = set(tokens)
    out: dict[str, Any] = {"retrieval": 0.0, "matched": 0.0, "known": 0.0}
    if distinct and kb.chunks:
        ranked = kb.lexical(tokens, 1)
        if ranked:
            best, score = ranked[0]
            out["retrieval"] = math.log1p(score / word_unit(kb))
            have = set(tokenize(kb.chunks[best].index_text()))
            top_idf = math.log(1 + (len(kb.chunks) - 0.5) / 1.5)
            out["matched"] = math.log1p(sum(_idf(kb, t) for t in distinct & have) / max(top_idf, 1e-6))
        out["known"] = sum(1 for t in distinct if kb.df.get(t)) / len(distinct)
    if kb.dense:
        out["dense"] = dense_signal(kb, text)
    return out


def dense_reference(kb: KnowledgeBase) -> dict[str, float]:
    """Mean and spread of the best-passage similarity of small talk to this knowledge base."""
    tops = kb.best_similarities(CHATTER_PROBES)
    if not tops:
        return {"mean": 0.0, "std": 1.0}
    return {"mean": float(np.mean(tops)), "std": float(max(np.std(tops), 0.01))}


def dense_signal(kb: KnowledgeBase, text: str) -> float:
    sims = kb.similarities(text)
    if sims is None or not sims.size:
        return 0.0
    ref = kb.manifest.get("dense_reference") or {"mean": 0.8, "std": 0.03}
    return (float(np.max(sims)) - ref["mean"]) / ref["std"]
