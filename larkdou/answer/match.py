"""How well the knowledge base matches a question addressed to the bot (direct chat, @mention).

An addressed question is answered from the documents whenever the best passage is a strong match,
and gets "not in my documents" only when nothing is. Strength is the IDF-weighted share of the
question's words that the best passage holds, its heading path included, counted over the words
that passage could hold: a Chinese word the knowledge base has never seen is left out when the
passage is English (a Chinese question about an English document: "recall 接口的错误码 230009 是什么意思"
is a strong match for the row of 230009), while an English word or identifier that no passage holds
counts against the match twice over: it names something outside the documents ("kubernetes ingress
怎么配置" is not answered by a passage about 配置).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from larkdou.kb.document import language as doc_language
from larkdou.kb.index import Hit, KnowledgeBase
from larkdou.kb.tokens import query_tokens, tokenize

STRONG = 0.14  # between off-topic (<= 0.11, but one) and answerable (>= 0.16) dev questions of bench/answers.py
UNKNOWN_WEIGHT = 2.0  # an English word or identifier the knowledge base does not have: how much more it weighs
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass
class Match:
    hit: Hit | None  # the passage the strength was measured on (the best ranked)
    strength: float  # in [0, 1]

    @property
    def strong(self) -> bool:
        return self.hit is not None and self.strength >= STRONG


def strength(kb: KnowledgeBase, question_tokens: list[str], hit: Hit) -> float:
    """IDF-weighted share of the question's words found in `hit` (see the module docstring)."""
    have = set(tokenize(hit.chunk.index_text()))
    passage_has_cjk = bool(_CJK.search(hit.chunk.text))
    total = found = 0.0
    for token in set(question_tokens):
        known, chinese = token in kb.df, bool(_CJK.search(token))
        if not known and chinese and not passage_has_cjk:
            continue  # a Chinese word an English passage cannot hold
        weight = kb.idf(token) * (UNKNOWN_WEIGHT if not known and not chinese else 1.0)
        total += weight
        if token in have:
            found += weight
    return found / total if total else 0.0


def best_match(kb: KnowledgeBase, question: str, hits: list[Hit], language: str = "") -> Match:
    """The strongest of the retrieved passages for `question` (strength 0 without passages).

    Ties go to the passage whose own text (not only its heading path) holds more of the question,
    then to one in the question's `language`, then to the better ranked."""
    tokens = query_tokens(question, kb.df)
    if not hits or not tokens:
        return Match(None, 0.0)
    wanted = set(tokens)

    def key(item: tuple[int, Hit]) -> tuple[float, int, bool, int]:
        rank, hit = item
        in_text = len(wanted & set(tokenize(hit.chunk.text)))
        return (round(strength(kb, tokens, hit), 6), in_text, doc_language(hit.chunk.text) == language, -rank)

    rank, hit = max(enumerate(hits), key=key)
    return Match(hit, strength(kb, tokens, hit))
