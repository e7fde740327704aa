"""The decision for unaddressed group messages as the answer pipeline uses it, with the LLM check.

`GroupJudge.decide` runs the model (`Decider`) in a thread. When an LLM is configured and
`[kb] llm_check` is on, a borderline verdict (probability within LLM_MARGIN of the threshold) is put
to the LLM as a yes/no question, as HuixiangDou asks its LLM whether a message is a question about
the topic. The check is never the only gate: only borderline messages are asked about, at most half
of `[llm] rpm` (30 a minute without a limit) and never by waiting for a slot; whenever the LLM is
busy, fails or answers something else than yes or no, the model's verdict stands. `stats` counts
how often it was asked and what it changed.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter, deque
from dataclasses import replace

from larkdou.answer.llm import LLMClient
from larkdou.config import Settings
from larkdou.decision.decide import Decider, Verdict
from larkdou.errors import LLMError
from larkdou.kb.index import Hit, KnowledgeBase
from larkdou.message import Message

log = logging.getLogger(__name__)
LLM_MARGIN = 0.15
DEFAULT_CHECKS_PER_MINUTE = 30

CHECK_SYSTEM = (
    "You watch a busy group chat for an assistant that answers from a knowledge base. Decide whether the "
    "message is a question (or a problem report) that the assistant should answer from these documents; "
    "small talk, jokes, logistics, remarks, answers people give each other, and questions about unrelated "
    "things are not. Reply with exactly one word: YES or NO.")
_YES = re.compile(r"^\W*(yes|是|对|应该回答)", re.IGNORECASE)
_NO = re.compile(r"^\W*(no|否|不)", re.IGNORECASE)


def check_messages(question: str, hits: list[Hit]) -> list[dict[str, str]]:
    """The chat messages of the yes/no check: the message and the two best passages (shortened)."""
    passages = "\n\n".join(f"[{n}] {h.chunk.citation}\n{h.chunk.text[:400]}" for n, h in enumerate(hits[:2], 1))
    return [{"role": "system", "content": CHECK_SYSTEM},
            {"role": "user", "content": f"Documents:\n{passages or '(none found)'}\n\nMessage: {question}\n\n"
                                        "Should the assistant answer it? YES or NO."}]


def _mentions_someone(msg: Message, bot_open_id: str) -> bool:
    return any(m.open_id != bot_open_id and not m.key.endswith("_all") for m in msg.mentions)


class GroupJudge:
    """Answer or stay silent, for group messages not addressed to the bot."""

    def __init__(self, settings: Settings, llm: LLMClient | None, bot_open_id: str = ""):
        self._override = settings.kb.threshold
        self._llm = llm if settings.kb.llm_check else None
        rpm = settings.llm.rpm or settings.llm.server.rpm
        self._per_minute = max(1, rpm // 2) if rpm else DEFAULT_CHECKS_PER_MINUTE
        self._recent: deque[float] = deque()  # when the checks of the last minute were asked
        self._bot = bot_open_id
        self._deciders: dict[str, Decider] = {}  # by index folder: one per knowledge base in use
        self.stats: Counter[str] = Counter()

    def _slot_free(self) -> bool:
        """Take a check slot if fewer than the allowed number were taken in the last 60 s (never waits)."""
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) >= self._per_minute:
            return False
        self._recent.append(now)
        return True

    def decider(self, kb: KnowledgeBase) -> Decider:
        """The decider of `kb` (several knowledge bases each keep theirs), made again when `kb` is a new
        index (two threads may both make it: harmless)."""
        key = str(kb.index_dir.parent)
        decider = self._deciders.get(key)
        if decider is None or decider.kb is not kb:
            decider = self._deciders[key] = Decider.for_kb(kb, self._override)
        return decider

    async def decide(self, msg: Message, question: str, kb: KnowledgeBase, hits: list[Hit], *,
                     addressed: bool = False) -> Verdict:
        """The verdict on `question` (the text of `msg` without @mentions). `addressed`: the caller
        knows the message is meant for the bot (a reply to it), which needs less evidence."""
        mentions = _mentions_someone(msg, self._bot)
        # in a thread: BM25, maybe an embedding, and after a rebuild the new index's baseline
        verdict = await asyncio.to_thread(lambda: self.decider(kb).decide(question, addressed=addressed,
                                                                          mentions_someone=mentions))
        self.stats["decided"] += 1
        if self._llm is None or verdict.why != "model" or abs(verdict.margin) >= LLM_MARGIN:
            return verdict
        if not self._slot_free():
            self.stats["llm_check_skipped"] += 1
            return verdict
        self.stats["llm_checked"] += 1
        try:
            reply = await self._llm.chat(check_messages(question, hits))
        except LLMError as exc:
            self.stats["llm_check_failed"] += 1
            log.warning("chat_id=%s message_id=%s LLM check failed, the model decides: %s", msg.chat_id, msg.msg_id, exc)
            return verdict
        answer = True if _YES.match(reply) else False if _NO.match(reply) else None
        if answer is None:
            self.stats["llm_check_unclear"] += 1
            return verdict
        if answer != verdict.answer:
            self.stats["llm_check_to_answer" if answer else "llm_check_to_silence"] += 1
        log.info("chat_id=%s message_id=%s LLM check: %s (model p=%.3f, threshold %.3f)", msg.chat_id, msg.msg_id,
                 "yes" if answer else "no", verdict.probability, verdict.threshold)
        return replace(verdict, answer=answer, why="llm_check")
