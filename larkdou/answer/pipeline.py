"""The answer pipeline: the chat's settings → policy → retrieve → prompt → LLM (or excerpts) → reply
citing its sources.

`decide` changes nothing but what `/forget` asks for (idempotent), so cancelling it at any await (a
recall in the chat) leaves nothing half done. It never raises for ordinary failures.
- The chat's `[[groups]]` settings (`larkdou.groups`) come first: mode "off" never answers, "mention"
  answers only messages meant for the bot; `kb` names the knowledge base that answers there.
- Addressed questions (direct chat, @mention, a reply to the bot) always get a reply: the answer when
  retrieval finds a strong match (`larkdou.answer.match`), otherwise what the documents cover; when
  the LLM fails, the excerpt that answers, or a short notice. Chat commands (`/help`, `/kb`,
  `/forget`) are answered in direct chats and when the bot is @mentioned.
- A follow-up (a reply to the bot, a message in a thread) is answered with the earlier exchange as
  context (`larkdou.answer.followup`): in retrieval, in the excerpt chosen, in the LLM prompt. A
  message in a thread where the bot answered is meant for it, but answered only when the group
  decision (told so) says it is a question; thanks and "解决了" there stay silent.
- Other group messages are answered when the group decision (`larkdou.decision`) says so; silence
  when the LLM fails or declines — unless part of the LLM's answer is already shown (streamed into a
  card): then the excerpt replaces it when there is one.

With `decide(msg, stream=True)` an LLM answer comes as `Decision.stream` (`larkdou.answer.streamed`),
started only when its consumer reads it; otherwise it is written out before `decide` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import AsyncIterator, Callable

from larkdou.answer.base import Decision, Streamed
from larkdou.answer.commands import FORGET, KB, Command, command_of, forget_reply, help_reply, kb_reply
from larkdou.answer.compose import (extractive_reply, introduction, llm_reply, llm_unavailable_reply,
                                    no_match_reply, not_built_reply)
from larkdou.answer.followup import Earlier, follow_up_reason, match, search
from larkdou.answer.llm import LLMClient
from larkdou.answer.policy import Route, route
from larkdou.answer.prompt import build_messages
from larkdou.answer.reply import Reply, question_language
from larkdou.answer.streamed import settle
from larkdou.config import Settings
from larkdou.decision.judge import GroupJudge
from larkdou.errors import LLMError, StoreError
from larkdou.groups import ChatSettings
from larkdou.kb.chitchat import is_greeting
from larkdou.kb.index import Hit, KnowledgeBase
from larkdou.kb.registry import KBRegistry
from larkdou.message import Message
from larkdou.store.base import Ledger
from larkdou.store.context import ContextStore

log = logging.getLogger(__name__)

# whether the `decide` running in this context may return a streamed LLM answer (set by `decide`, read
# by `_ask`, so that the routing in between need not carry it)
_STREAMING: contextvars.ContextVar[bool] = contextvars.ContextVar("larkdou_streaming", default=False)


class KBAnswerer:
    """Answers from the knowledge bases; see `larkdou.answer.build_answerer`. Without a context store
    and a ledger (`context`, `ledger`) replies to the bot are not recognised and follow-ups get no
    earlier exchange."""

    def __init__(self, settings: Settings, *, kbs: KBRegistry, llm: LLMClient | None, bot_open_id: str = "",
                 context: ContextStore | None = None, ledger: Ledger | None = None):
        self._settings = settings
        self._kbs = kbs
        self._llm = llm
        self._bot = bot_open_id or settings.lark_group.bot_open_id
        self._judge = GroupJudge(settings, llm, self._bot)
        self._context = context
        self._ledger = ledger

    @property
    def llm(self) -> LLMClient | None:
        """The LLM client (None: excerpts only); the assistant watches its health."""
        return self._llm

    async def decide(self, msg: Message, *, stream: bool = False) -> Decision:
        _STREAMING.set(stream)
        chat = self._settings.for_chat(msg.chat_id)
        if chat.mode == "off":
            return self._log(msg, Decision(False, "mode_off"))
        r, earlier = await self._route(msg)
        if r.reason in ("p2p", "mentioned") and r.silence in ("", "chitchat") and (command := command_of(msg)):
            return self._log(msg, Decision(True, "command", reply=await self._command(msg, command, chat)))
        if r.silence == "chitchat" and r.addressed and is_greeting(r.question):
            intro = introduction(r.question, chat.recall_keywords[0])
            return self._log(msg, Decision(True, "greeting", reply=intro))
        if r.silence:
            return self._log(msg, Decision(False, r.silence))
        if not chat.answers(r.for_bot):
            return self._log(msg, Decision(False, "mention_only"))
        kb = await self._kbs.get(chat.kb)
        if kb is None:
            return self._log(msg, await self._without_kb(msg, r, chat))
        if r.for_bot:
            earlier = earlier or await self._earlier(msg)
            hits = await asyncio.to_thread(search, kb, r.question, earlier, self._settings.kb.top_k)
            if r.addressed:
                return self._log(msg, await self._addressed(msg, r, kb, hits, earlier))
        else:
            hits = await asyncio.to_thread(kb.search, r.question, self._settings.kb.top_k)
        verdict = await self._judge.decide(msg, r.question, kb, hits, addressed=r.for_bot)
        score = verdict.probability
        if not verdict.answer:
            reason = "llm_check" if verdict.why == "llm_check" else "not_relevant"
            return self._log(msg, Decision(False, reason, score=score))
        reason = r.reason if r.for_bot else "relevant"
        if not r.for_bot and (msg.parent_id or msg.root_id or msg.thread_id):
            earlier = earlier or await self._earlier(msg)  # a reply between people: their exchange helps too
            if earlier:
                hits = await asyncio.to_thread(search, kb, r.question, earlier, self._settings.kb.top_k)
        if self._llm is not None:
            return self._log(msg, await self._ask(msg, r, kb, hits, reason, score, earlier))
        return self._log(msg, Decision(True, reason, score=score, reply=self._extract(r.question, kb, hits, earlier)))

    async def _route(self, msg: Message) -> tuple[Route, Earlier]:
        """`route`, with a reply to the bot or a message in its thread told apart from other group
        messages; for a thread message, its earlier messages (read to see whether the bot is in it)."""
        r = route(msg, self._bot)
        earlier = Earlier()
        if r.reason == "group" and r.silence in ("", "chitchat") and self._ledger is not None:
            if msg.thread_id:
                earlier = await self._earlier(msg)
            try:
                r.reason = await follow_up_reason(msg, self._ledger, earlier, self._bot) or r.reason
            except StoreError as exc:
                log.warning("chat_id=%s message_id=%s: cannot tell whether it replies to the bot: %s",
                            msg.chat_id, msg.msg_id, exc)
        return r, earlier

    async def _earlier(self, msg: Message) -> Earlier:
        """The earlier exchange `msg` continues (empty without a context store, or when it fails)."""
        limit = self._settings.assistant.context_messages
        if self._context is None or limit == 0:
            return Earlier()
        try:
            return Earlier(await self._context.context(msg, limit))
        except StoreError as exc:
            log.warning("chat_id=%s message_id=%s: earlier messages not read, answering without them: %s",
                        msg.chat_id, msg.msg_id, exc)
            return Earlier()

    async def _without_kb(self, msg: Message, r: Route, chat: ChatSettings) -> Decision:
        """The chat's knowledge base is not built: addressed questions are told so (or the LLM answers)."""
        if not r.addressed:
            return Decision(False, "no_kb")
        if self._llm is None:
            return Decision(True, "no_kb", reply=not_built_reply(r.question, chat.kb))
        return await self._ask(msg, r, None, [], "no_kb", None, await self._earlier(msg), kb_name=chat.kb)

    async def _addressed(self, msg: Message, r: Route, kb: KnowledgeBase, hits: list[Hit],
                         earlier: Earlier) -> Decision:
        """A question put to the bot: answered when a passage matches it strongly, else "not found"."""
        m = match(kb, r.question, earlier, hits, question_language(r.question))
        extracted = self._extract(r.question, kb, hits, earlier) if m.strong else None
        if self._llm is not None and hits:
            # the LLM down: the excerpt, or a notice; what the documents cover when nothing matched strongly
            def failed(shown: bool) -> Reply | None:
                if not m.strong:
                    return no_match_reply(r.question, kb)
                return extracted or llm_unavailable_reply(r.question)

            return await self._ask(msg, r, kb, hits, r.reason, m.strength, earlier, failed=failed)
        if extracted is not None:
            return Decision(True, r.reason, score=m.strength, reply=extracted)
        return Decision(True, r.reason, score=m.strength, reply=no_match_reply(r.question, kb))

    async def _command(self, msg: Message, command: Command, chat: ChatSettings) -> Reply:
        """The reply to a chat command (in Chinese and English); `/forget` clears the chat's context first."""
        if command.name == KB:
            text = kb_reply(chat, await asyncio.to_thread(self._kbs.info, chat.kb))
        elif command.name == FORGET:
            text = forget_reply(await self._forget(msg))
        else:
            text = help_reply(chat)
        return Reply("zh", text, "notice")

    async def _forget(self, msg: Message) -> int:
        if self._context is None:
            return 0
        dropped = await self._context.forget_chat(msg.chat_id)
        log.info("chat_id=%s message_id=%s: /forget dropped %d earlier message(s)", msg.chat_id, msg.msg_id, dropped)
        return dropped

    def _extract(self, question: str, kb: KnowledgeBase, hits: list[Hit], earlier: Earlier) -> Reply | None:
        return extractive_reply(question, hits, kb, self._settings.kb.excerpt_chars, self._settings.kb.source_url,
                                context=earlier.context)

    async def _ask(self, msg: Message, r: Route, kb: KnowledgeBase | None, hits: list[Hit], reason: str,
                   score: float | None, earlier: Earlier, *, failed: Callable[[bool], Reply | None] | None = None,
                   kb_name: str = "default") -> Decision:
        """The LLM's answer from `hits` (and the earlier exchange): streamed when `decide` was asked to,
        else written out. What is said instead when it declines or fails: for an addressed question
        what the documents cover, or `failed` (default: a notice); for others nothing, or the excerpt
        if part of the answer is shown."""
        assert self._llm is not None
        messages = build_messages(r.question, hits, earlier.history())
        question, base_url, streaming = r.question, self._settings.kb.source_url, _STREAMING.get()

        def instead_of_decline() -> Reply | None:
            if not r.addressed:
                return None
            return no_match_reply(question, kb) if kb is not None else not_built_reply(question, kb_name)

        def instead_of_failure(shown: bool) -> Reply | None:
            if r.addressed:
                return llm_unavailable_reply(question)
            return self._extract(question, kb, hits, earlier) if shown and kb is not None else None

        written = Streamed(
            pieces=lambda: self._written(msg, messages, streaming),
            finish=lambda text: llm_reply(question, text, hits, base_url),
            language=question_language(question), addressed=r.addressed,
            declined=instead_of_decline, failed=failed or instead_of_failure)
        d = Decision(True, reason, score=score, mode="llm", stream=written)
        return d if streaming else await settle(d)

    async def _written(self, msg: Message, messages: list[dict[str, str]], streaming: bool) -> AsyncIterator[str]:
        """The LLM's text as it is written (in one piece when not streaming); a failure is logged."""
        assert self._llm is not None
        try:
            if streaming:
                async with contextlib.aclosing(self._llm.stream(messages)) as pieces:  # type: ignore[type-var]
                    async for piece in pieces:
                        yield piece
            else:
                yield await self._llm.chat(messages)
        except LLMError as exc:
            log.warning("chat_id=%s message_id=%s LLM failed: %s", msg.chat_id, msg.msg_id, exc)
            raise

    def _log(self, msg: Message, d: Decision) -> Decision:
        score = "-" if d.score is None else f"{d.score:.3f}"
        log.info("chat_id=%s message_id=%s %s reason=%s score=%s", msg.chat_id, msg.msg_id,
                 "answer" if d.answer else "silent", d.reason, score)
        return d

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.aclose()
