"""The answer pipeline: policy → retrieve → prompt → LLM (or excerpts) → reply citing its sources.

`decide` has no side effects, so cancelling it at any await (a recall in the chat) leaves nothing
half done. It never raises for ordinary failures: an LLM that fails after its retries, or declines,
means silence and a log line.
"""

from __future__ import annotations

import asyncio
import logging

from larkdou.answer.base import Decision
from larkdou.answer.llm import LLMClient
from larkdou.answer.policy import Route, route
from larkdou.answer.prompt import (NO_MATCH, NOT_BUILT, build_messages, declined, extractive_reply, introduction,
                                   llm_reply)
from larkdou.config import Settings
from larkdou.decision.judge import GroupJudge
from larkdou.errors import LarkdouError, LLMError
from larkdou.kb.chitchat import is_greeting
from larkdou.kb.index import MATCH_FLOOR, Hit, KnowledgeBase, live_dir, open_kb
from larkdou.message import Message

log = logging.getLogger(__name__)
MAX_EXCERPTS = 3


class _LiveKB:
    """The knowledge base, reloaded when `larkdou kb build` swaps in a new index."""

    def __init__(self, settings: Settings, kb: KnowledgeBase | None):
        self._settings = settings
        self._kb = kb
        self._stamp = self._current_stamp()
        self._lock = asyncio.Lock()

    def _current_stamp(self) -> tuple[str, int, int] | None:
        index_dir = live_dir(self._settings.kb_dir)
        if index_dir is None:
            return None
        try:
            st = (index_dir / "manifest.json").stat()
        except OSError:
            return None
        return str(index_dir), st.st_ino, st.st_mtime_ns

    async def get(self) -> KnowledgeBase | None:
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return self._kb
        async with self._lock:
            if stamp != self._stamp:
                try:
                    self._kb = await asyncio.to_thread(open_kb, self._settings)
                    log.info("knowledge base loaded from %s", self._settings.kb_dir)
                except (LarkdouError, OSError, ValueError) as exc:
                    log.error("knowledge base in %s not reloaded, keeping the previous one: %s",
                              self._settings.kb_dir, exc)
                self._stamp = stamp
        return self._kb


class KBAnswerer:
    """Answers from the knowledge base; see `larkdou.answer.build_answerer`."""

    def __init__(self, settings: Settings, *, kb: KnowledgeBase | None, llm: LLMClient | None,
                 bot_open_id: str = ""):
        self._settings = settings
        self._kb = _LiveKB(settings, kb)
        self._llm = llm
        self._bot = bot_open_id or settings.lark_group.bot_open_id
        self._judge = GroupJudge(settings, llm, self._bot)

    async def decide(self, msg: Message) -> Decision:
        r = route(msg, self._bot)
        if r.silence == "chitchat" and r.addressed and is_greeting(r.question):
            intro = introduction(self._settings.lark_group.recall_keywords[0])
            return self._log(msg, Decision(True, "greeting", intro, mode="notice"))
        if r.silence:
            return self._log(msg, Decision(False, r.silence))
        kb = await self._kb.get()
        if kb is None:
            if not r.addressed:
                return self._log(msg, Decision(False, "no_kb"))
            if self._llm is None:
                return self._log(msg, Decision(True, "no_kb", NOT_BUILT, mode="notice"))
            return self._log(msg, await self._ask(msg, r, [], "no_kb", None))
        hits = await asyncio.to_thread(kb.search, r.question, self._settings.kb.top_k)
        if r.addressed:
            score = kb.relevance(hits)
            relevant = score > 0 and score >= MATCH_FLOOR
        else:
            verdict = await self._judge.decide(msg, r.question, kb, hits)
            score, relevant = verdict.probability, verdict.answer
            if not relevant:
                reason = "llm_check" if verdict.why == "llm_check" else "not_relevant"
                return self._log(msg, Decision(False, reason, score=score))
        reason = r.reason if r.addressed else "relevant"
        if self._llm is not None and hits:
            return self._log(msg, await self._ask(msg, r, hits, reason, score))
        if not relevant:
            return self._log(msg, Decision(True, reason, NO_MATCH, score=score, mode="notice"))
        floor = max(MATCH_FLOOR, kb.relevance(hits) / 2)
        picked = [h for h in hits if h.relevance >= floor][:MAX_EXCERPTS] or hits[:1]
        text, sources = extractive_reply(picked)
        return self._log(msg, Decision(True, reason, text, sources, score, mode="extractive"))

    async def _ask(self, msg: Message, r: Route, hits: list[Hit], reason: str, score: float | None) -> Decision:
        assert self._llm is not None
        try:
            reply = await self._llm.chat(build_messages(r.question, hits))
        except LLMError as exc:
            log.warning("chat_id=%s message_id=%s no answer sent, LLM failed: %s", msg.chat_id, msg.msg_id, exc)
            return Decision(False, "llm_error", score=score)
        if declined(reply):
            return Decision(False, "llm_declined", score=score)
        text, sources = llm_reply(reply, hits)
        return Decision(True, reason, text, sources, score, mode="llm")

    def _log(self, msg: Message, d: Decision) -> Decision:
        score = "-" if d.score is None else f"{d.score:.3f}"
        log.info("chat_id=%s message_id=%s %s reason=%s score=%s", msg.chat_id, msg.msg_id,
                 "answer" if d.answer else "silent", d.reason, score)
        return d

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.aclose()
