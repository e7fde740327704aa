"""Follow-ups: whether a message continues a conversation with the bot, and what it continues.

People do not ask in one message: they reply to the bot's answer ("那助手呢？"), continue in its
thread, or ask again in other words. Such a message means little alone, so it is answered with the
earlier exchange that the context store keeps (`larkdou.store.context`):
- `follow_up_reason` tells a reply to one of the bot's messages ("reply": addressed to the bot, like an
  @mention) and a message in a thread where the bot answered ("thread": meant for the bot, answered
  when it is a question the bot can answer), from the sent-message ledger, which knows every message
  the bot sent for a week. A message that @mentions someone else is meant for them, not the bot.
- `Earlier` reads the context store's entries for the message: the earlier questions go into
  retrieval as context (`KnowledgeBase.search(context=…)`: their words count half as much as the
  follow-up's own), the documents the bot's answers cited are preferred, and the whole exchange goes
  into the LLM prompt as history turns (`larkdou.answer.history`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from larkdou.answer.history import history_messages
from larkdou.answer.match import Match, best_match
from larkdou.kb.chitchat import is_chitchat
from larkdou.kb.document import PATH_SEPARATOR
from larkdou.kb.index import CANDIDATES, Hit, KnowledgeBase
from larkdou.message import Message
from larkdou.store.base import Ledger
from larkdou.store.context import ROLE_BOT, ROLE_USER, ContextEntry, replies_to_bot

EARLIER_QUESTIONS = 2  # the nearest earlier questions that make a follow-up's retrieval context
CITED_BONUS = 0.2  # a passage of a document the bot already cited in the exchange ranks 20% higher


def _mentions_someone_else(msg: Message, bot_open_id: str) -> bool:
    return any(m.open_id != bot_open_id and not m.key.endswith("_all") for m in msg.mentions)


async def follow_up_reason(msg: Message, ledger: Ledger, earlier: Earlier, bot_open_id: str = "") -> str:
    """"reply" when `msg` replies to one of the bot's messages; "thread" when it is in a thread the bot
    answered in (its root is the bot's or was answered by the bot, or the bot's answer is among the
    thread's `earlier` messages); "" otherwise, or when it @mentions someone else."""
    if not (msg.parent_id or msg.root_id) or _mentions_someone_else(msg, bot_open_id):
        return ""
    if await replies_to_bot(msg, ledger):
        return "reply"
    if not (msg.thread_id and msg.root_id):
        return ""
    threads = {msg.root_id, msg.thread_id}
    if any(e.role == ROLE_BOT and e.thread in threads for e in earlier.entries):
        return "thread"
    if await ledger.find_sent(msg.root_id) is not None or await ledger.sent_for_source(msg.root_id):
        return "thread"
    return ""


def cited_path(citation: str) -> str:
    """The document of a stored source ("docs/a.md › Install › GPU" → "docs/a.md")."""
    return citation.split(PATH_SEPARATOR, 1)[0].strip()


@dataclass
class Earlier:
    """The earlier exchange of a message: the context store's entries for it, oldest first."""

    entries: list[ContextEntry] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def questions(self) -> list[str]:
        """The nearest earlier questions people asked (thanks and the like left out), nearest first."""
        out: list[str] = []
        for e in reversed(self.entries):
            text = e.text.strip()
            if e.role == ROLE_USER and text and not is_chitchat(text, done=True) and text not in out:
                out.append(text)
            if len(out) == EARLIER_QUESTIONS:
                break
        return out

    @property
    def context(self) -> str:
        """What retrieval adds to a follow-up: its earlier questions."""
        return " ".join(self.questions)

    @property
    def cited(self) -> set[str]:
        """The documents the bot's earlier answers cited."""
        return {cited_path(s) for e in self.entries if e.role == ROLE_BOT for s in e.sources if s.strip()}

    def history(self) -> list[dict[str, str]]:
        """The exchange as LLM chat turns, within the history budget."""
        return history_messages(self.entries)


def search(kb: KnowledgeBase, question: str, earlier: Earlier, k: int) -> list[Hit]:
    """The `k` best passages for `question` continuing `earlier`: searched with the earlier questions
    as context, passages of documents already cited ranked `CITED_BONUS` higher. Synchronous CPU work."""
    if not earlier:
        return kb.search(question, k)
    hits = kb.search(question, max(k, CANDIDATES), context=earlier.context)
    cited = earlier.cited
    if cited:
        hits.sort(key=lambda h: -h.score * (1 + CITED_BONUS if h.chunk.source in cited else 1))
    return hits[:k]


def match(kb: KnowledgeBase, question: str, earlier: Earlier, hits: list[Hit], language: str) -> Match:
    """How strongly the passages match the follow-up: alone, or read with its earlier questions
    ("它的默认值是多少？" holds little until "网关端口" is added), whichever is stronger."""
    own = best_match(kb, question, hits, language)
    if not earlier.context:
        return own
    joined = best_match(kb, f"{question} {earlier.context}", hits, language)
    return joined if joined.strength > own.strength else own
