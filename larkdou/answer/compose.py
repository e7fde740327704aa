"""The replies the bot writes, each a `Reply` in the question's language.

- `extractive_reply`: without an LLM (or when it fails), the part of the best passage that answers
  the question (see `larkdou.answer.extract`), short, cut at sentence or block boundaries, with its
  source and, when cut, where to read on; a second passage only when it is about as good and says
  something else.
- `llm_reply`: the LLM's answer with the sources it cited.
- `no_match_reply`: nothing matched; says what the knowledge base covers and how to ask.
- notices: the knowledge base is not built, the LLM is unavailable, the introduction to a greeting.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

from larkdou.answer.extract import Unit, asks_quantity, excerpt_at, score_units, units_of
from larkdou.answer.reply import Reply, Source, more_hint, question_language, source_of
from larkdou.kb.chunking import Chunk
from larkdou.kb.dedup import text_key
from larkdou.kb.document import language
from larkdou.kb.index import CONTEXT_WEIGHT, Hit, KnowledgeBase
from larkdou.kb.tokens import query_tokens

MAX_SOURCES = 3
MAX_TOPICS = 8
MAX_PASSAGES = 4  # passages an extractive answer may quote from
RANK_DISCOUNT = 0.1  # a passage's units count 10% less for each place it is ranked lower
SECOND_EXCERPT_MIN = 160  # characters of budget left for a second passage to be worth quoting
SECOND_EXCERPT_SHARE = 0.7  # how good a second passage's best unit must be, relative to the first
MEANING_WEIGHT = 0.3  # with dense vectors: the share of a unit's score that is its similarity to the question
_CITE = re.compile(r"\[(\d{1,2})\]")

HEADERS = {
    "extractive": {"zh": "文档里是这样写的：", "en": "From the docs:"},
    "llm": {"zh": "", "en": ""},
    "no_match": {"zh": "知识库里没有找到相关内容。", "en": "I found nothing about this in my documents."},
}


@dataclass
class _Candidate:
    hit: Hit
    units: list[Unit]
    scores: list[float]
    anchor: int
    score: float


@functools.lru_cache(maxsize=8)
def _sections(kb: KnowledgeBase) -> dict[tuple[str, str], list[Chunk]]:
    out: dict[tuple[str, str], list[Chunk]] = {}
    for c in kb.chunks:
        out.setdefault((c.source, c.heading), []).append(c)
    return out


def section_units(kb: KnowledgeBase, chunk: Chunk) -> list[Unit]:
    """The units of the whole section `chunk` belongs to (its chunks in order, the sentences one
    chunk carries over from the one before counted once)."""
    units: list[Unit] = []
    for part in _sections(kb).get((chunk.source, chunk.heading), [chunk]):
        fresh = units_of(part.text)
        recent = {u.text for u in units[-8:]}
        while fresh and fresh[0].kind == "text" and fresh[0].text in recent:
            fresh.pop(0)
        if fresh and units:
            fresh[0].glue = "\n\n"
        units.extend(fresh)
    return units


def _candidates(hits: list[Hit], wanted: set[str], kb: KnowledgeBase, question: str,
                idf: Callable[[str], float] | None = None) -> list[_Candidate]:
    """The best unit of the section of each top passage, best first; a passage's rank discounts it.
    With dense vectors, a unit's score also counts how close its meaning is to the question's."""
    idf = idf or kb.idf
    quantity = asks_quantity(question)
    sections: list[tuple[int, Hit, list[Unit], list[float]]] = []
    seen: set[tuple[str, str]] = set()
    for rank, hit in enumerate(hits[:MAX_PASSAGES]):
        if (hit.chunk.source, hit.chunk.heading) in seen:
            continue
        seen.add((hit.chunk.source, hit.chunk.heading))
        units = section_units(kb, hit.chunk)
        if units:
            sections.append((rank, hit, units, score_units(units, hit.chunk.heading, wanted, idf, quantity)))
    sections = _with_meaning(sections, kb, question)
    out = []
    for rank, hit, units, scores in sections:
        anchor = max(range(len(units)), key=lambda i: (scores[i], -i))
        out.append(_Candidate(hit, units, scores, anchor, scores[anchor] * (1 - RANK_DISCOUNT * rank)))
    return sorted(out, key=lambda c: -c.score)


def _with_meaning(sections: list[tuple[int, Hit, list[Unit], list[float]]], kb: KnowledgeBase,
                  question: str) -> list[tuple[int, Hit, list[Unit], list[float]]]:
    """Each unit's lexical score blended with its dense similarity to the question (both scaled to the
    best among the candidates; a similarity below the candidates' median adds nothing), so a sentence
    that answers in other words can be the one quoted. Unchanged without dense vectors."""
    texts = [u.text for _, _, units, _ in sections for u in units]
    sims = kb.text_similarities(question, texts) if texts and kb.dense else None
    if not sims:
        return sections
    top_lex = max((v for *_, scores in sections for v in scores), default=0.0) or 1.0
    floor, top_sim = sorted(sims)[len(sims) // 2], max(sims)
    span = (top_sim - floor) or 1.0
    out, i = [], 0
    for rank, hit, units, scores in sections:
        blended = []
        for v in scores:
            meaning = max(0.0, sims[i] - floor) / span
            blended.append((1 - MEANING_WEIGHT) * v / top_lex + MEANING_WEIGHT * meaning)
            i += 1
        out.append((rank, hit, units, blended))
    return out


def extractive_reply(question: str, hits: list[Hit], kb: KnowledgeBase, budget: int,
                     base_url: str = "", *, context: str = "") -> Reply | None:
    """The sentences (or list items, code, table rows) of the top passages that answer `question`:
    an excerpt around the best one, and a second from another passage when it is nearly as good, in
    the question's language, and there is room. None without passages. `context`: the earlier
    question a follow-up refers to; its own words count `CONTEXT_WEIGHT` as much as the question's."""
    lang = question_language(question)
    own = set(query_tokens(question, kb.df))
    extra = set(query_tokens(context, kb.df)) - own if context else set()
    idf = (lambda t: kb.idf(t) * (1.0 if t in own else CONTEXT_WEIGHT)) if extra else None
    candidates = _candidates(hits, own | extra, kb, question, idf)
    if not candidates:
        return None
    parts: list[str] = []
    used: list[Hit] = []
    seen: list[str] = []
    more = ""
    for c in candidates:
        left = budget - sum(len(p) for p in parts)
        if used and (left < SECOND_EXCERPT_MIN or c.score < SECOND_EXCERPT_SHARE * candidates[0].score
                     or language(c.hit.chunk.text) != lang):
            continue
        if any(c.hit.chunk.citation == u.chunk.citation for u in used):
            continue
        ex = excerpt_at(c.units, c.scores, c.anchor, left if used else budget)
        key = text_key(ex.text)
        if not ex.text or any(key in s or s in key for s in seen):
            continue
        seen.append(key)
        parts.append(ex.text)
        used.append(c.hit)
        if ex.cut and not more:
            more = more_hint(lang, source_of(c.hit.chunk, base_url))
        if len(used) == 2:
            break
    sources = _sources(used, base_url)
    return Reply(lang, "\n\n".join(parts), "extractive", HEADERS["extractive"][lang], sources, more)


def _sources(hits: list[Hit], base_url: str) -> list[Source]:
    out: list[Source] = []
    for h in hits:
        s = source_of(h.chunk, base_url)
        if all(s.citation != o.citation for o in out):
            out.append(s)
    return out[:MAX_SOURCES]


def llm_reply(question: str, answer: str, hits: list[Hit], base_url: str = "") -> Reply:
    """The LLM's answer, followed by the sources it cited (all passages if it cited none)."""
    lang = question_language(question)
    cited = sorted({int(n) for n in _CITE.findall(answer) if 1 <= int(n) <= len(hits)})
    numbers = cited or list(range(1, len(hits) + 1))
    sources = [source_of(hits[n - 1].chunk, base_url) for n in numbers][:MAX_SOURCES]
    for n, source in zip(numbers, sources):
        source.ref = f"[{n}]"
    body = _CITE.sub("", answer).strip() if not hits else answer.strip()
    return Reply(lang, body, "llm", HEADERS["llm"][lang], sources)


def topics(kb: KnowledgeBase, lang: str) -> list[str]:
    """What the knowledge base covers: its documents' titles, those in `lang` first."""
    titles: dict[str, str] = {}
    for c in kb.chunks:
        if c.source not in titles:
            titles[c.source] = c.title or c.source.rsplit("/", 1)[-1]
    unique = list(dict.fromkeys(titles.values()))
    unique.sort(key=lambda t: language(t) != lang)
    return unique[:MAX_TOPICS]


def no_match_reply(question: str, kb: KnowledgeBase | None) -> Reply:
    """Nothing in the documents matches: say so, what they cover, and how to ask."""
    lang = question_language(question)
    covered = topics(kb, lang) if kb is not None else []
    if lang == "zh":
        body = ("我的文档涵盖：" + "；".join(covered) + "。\n" if covered else "")
        body += "可以换个说法，带上具体的关键词（配置项、命令、报错信息）再问我。"
    else:
        body = ("My documents cover: " + "; ".join(covered) + ".\n" if covered else "")
        body += "Try asking with specific words: a config key, a command or the error message."
    return Reply(lang, body, "no_match", HEADERS["no_match"][lang])


def llm_unavailable_reply(question: str) -> Reply:
    """The LLM failed and no passage answers the question."""
    lang = question_language(question)
    body = ("抱歉，我现在没法生成回答（语言模型暂时不可用），文档里也没有找到直接相关的段落。请稍后再问。" if lang == "zh"
            else "Sorry, I cannot write an answer right now (the language model is unavailable), and no "
                 "passage of my documents matches the question directly. Please ask again later.")
    return Reply(lang, body, "notice")


def not_built_reply(question: str, name: str = "default") -> Reply:
    """The knowledge base that answers here (`name`) has not been built."""
    lang = question_language(question)
    option = "" if name == "default" else f"--name {name} "
    if lang == "zh":
        which = "知识库" if name == "default" else f"这里使用的知识库“{name}”"
        body = f"{which}还没有建立，暂时无法回答。请管理员运行 `larkdou kb build {option}--docs <文档目录> --config <配置文件>`。"
    else:
        which = "The knowledge base" if name == "default" else f"Knowledge base \"{name}\", which answers here,"
        body = f"{which} is not built yet. Build it with `larkdou kb build {option}--docs DIR --config FILE`."
    return Reply(lang, body, "notice")


def introduction(question: str, recall_keyword: str) -> Reply:
    """The reply to a greeting addressed to the bot, in the greeting's language."""
    lang = question_language(question)
    if lang == "zh":
        body = (f"你好！我是这里的知识助手：直接问技术问题（群里请 @我），我会从文档里找答案并注明出处；"
                f"说“{recall_keyword}”，我会撤回我在这个群里发过的消息。")
    else:
        body = (f"Hi! Ask me a technical question (in a group, @mention me) and I will answer from the docs "
                f"with sources; say \"{recall_keyword}\" and I take back what I said in this chat.")
    return Reply(lang, body, "notice")
