"""The answer pipeline: policy → retrieve → prompt → LLM (or excerpts) → reply citing its sources.

`decide` has no side effects, so cancelling it at any await (a recall in the chat) leaves nothing
half done. It never raises for ordinary failures. Addressed questions (direct chat, @mention) always
get a reply: the answer when retrieval finds a strong match (`larkdou.answer.match`), otherwise what
the documents cover; when the LLM fails, the excerpt that answers, or a short notice. Other group
messages get silence when the LLM fails or declines.
"""

from __future__ import annotations

import asyncio
import logging

from larkdou.answer.base import Decision
from larkdou.answer.compose import (extractive_reply, introduction, llm_reply, llm_unavailable_reply,
                                    no_match_reply, not_built_reply)
from larkdou.answer.llm import LLMClient
from larkdou.answer.match import best_match
from larkdou.answer.policy import Route, route
from larkdou.answer.prompt import build_messages, declined
from larkdou.config import Settings
from larkdou.decision.judge import GroupJudge
from larkdou.errors import LarkdouError, LLMError
from larkdou.kb.chitchat import is_greeting
from larkdou.answer.reply import Reply, question_language
from larkdou.kb.index import Hit, KnowledgeBase, live_dir, open_kb
from larkdou.message import Message

log = logging.getLogger(__name__)


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

    @property
    def llm(self) -> LLMClient | None:
        """The LLM client (None: excerpts only); the assistant watches its health."""
        return self._llm

    async def decide(self, msg: Message) -> Decision:
        r = route(msg, self._bot)
        if r.silence == "chitchat" and r.addressed and is_greeting(r.question):
            intro = introduction(r.question, self._settings.lark_group.recall_keywords[0])
            return self._log(msg, Decision(True, "greeting", reply=intro))
        if r.silence:
            return self._log(msg, Decision(False, r.silence))
        kb = await self._kb.get()
        if kb is None:
            if not r.addressed:
                return self._log(msg, Decision(False, "no_kb"))
            if self._llm is None:
                return self._log(msg, Decision(True, "no_kb", reply=not_built_reply(r.question)))
            return self._log(msg, await self._ask(msg, r, [], "no_kb", None))
        hits = await asyncio.to_thread(kb.search, r.question, self._settings.kb.top_k)
        if r.addressed:
            return self._log(msg, await self._addressed(msg, r, kb, hits))
        verdict = await self._judge.decide(msg, r.question, kb, hits)
        score = verdict.probability
        if not verdict.answer:
            reason = "llm_check" if verdict.why == "llm_check" else "not_relevant"
            return self._log(msg, Decision(False, reason, score=score))
        if self._llm is not None:
            return self._log(msg, await self._ask(msg, r, hits, "relevant", score))
        return self._log(msg, Decision(True, "relevant", score=score, reply=self._extract(r.question, kb, hits)))

    async def _addressed(self, msg: Message, r: Route, kb: KnowledgeBase, hits: list[Hit]) -> Decision:
        """A question put to the bot: answered when a passage matches it strongly, else "not found"."""
        match = best_match(kb, r.question, hits, question_language(r.question))
        extracted = self._extract(r.question, kb, hits) if match.strong else None
        if self._llm is not None and hits:
            d = await self._ask(msg, r, hits, r.reason, match.strength)
            if d.answer:
                return d
            if d.reason == "llm_error" and match.strong:
                reply = extracted or llm_unavailable_reply(r.question)
                return Decision(True, r.reason, score=match.strength, reply=reply)
        elif extracted is not None:
            return Decision(True, r.reason, score=match.strength, reply=extracted)
        return Decision(True, r.reason, score=match.strength, reply=no_match_reply(r.question, kb))

    def _extract(self, question: str, kb: KnowledgeBase, hits: list[Hit]) -> Reply | None:
        return extractive_reply(question, hits, kb, self._settings.kb.excerpt_chars, self._settings.kb.source_url)

    async def _ask(self, msg: Message, r: Route, hits: list[Hit], reason: str, score: float | None) -> Decision:
        assert self._llm is not None
        try:
            answer = await self._llm.chat(build_messages(r.question, hits))
        except LLMError as exc:
            log.warning("chat_id=%s message_id=%s LLM failed: %s", msg.chat_id, msg.msg_id, exc)
            return Decision(False, "llm_error", score=score)
        if declined(answer):
            return Decision(False, "llm_declined", score=score)
        reply = llm_reply(r.question, answer, hits, self._settings.kb.source_url)
        return Decision(True, reason, score=score, reply=reply)

    def _log(self, msg: Message, d: Decision) -> Decision:
        score = "-" if d.score is None else f"{d.score:.3f}"
        log.info("chat_id=%s message_id=%s %s reason=%s score=%s", msg.chat_id, msg.msg_id,
                 "answer" if d.answer else "silent", d.reason, score)
        return d

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.aclose()
