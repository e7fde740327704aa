"""What an answer looks like in the chat, and the plan that lets an interrupted answer be finished.

`[assistant] reply_format = "card"` (the default): the reply as Lark cards (`larkdou.lark.cards`): its
header as the card's title, the Markdown body, the sources (links when `[kb] source_url` is set,
otherwise "file › heading"), a grey hint where the reply was cut, and a short footer in the
question's language saying how to recall (the chat's first recall keyword). A long answer takes
several cards. `"text"`: the reply's plain text (`Reply.to_text`) in as many text messages as needed.
Either way an `<at …>` written by the LLM or quoted from a document never becomes a mention.

A `Plan` is what the ledger keeps while an answer is being sent (`Ledger.begin_answer`): the format,
whether its first card is one being streamed (then updated to the final answer rather than sent), and
the final reply once known. Rendering is deterministic, so the parts of a finished plan are the same
after a restart, and those already sent are not sent again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from larkdou.answer.base import Decision
from larkdou.answer.reply import Reply, Source, question_language
from larkdou.lark.cards import Lang, SourceLink, answer_cards, recall_footer
from larkdou.lark.markdown import neutralize_mentions
from larkdou.lark.text import split_text

log = logging.getLogger(__name__)

PLAN_VERSION = 1


def lang_of(reply: Reply) -> Lang:
    return "zh" if reply.language == "zh" else "en"


def reply_of(decision: Decision) -> Reply:
    """The decision's reply; a decision made of text alone becomes a reply with that text as its body."""
    if decision.reply is not None:
        return decision.reply
    return Reply(question_language(decision.text), decision.text, decision.mode or "notice")


def footer(reply: Reply, keyword: str) -> str:
    return recall_footer(keyword, lang_of(reply))


def title(reply: Reply) -> str:
    """The card's title: the reply's header without its closing punctuation ("" without a header)."""
    return reply.header.strip().rstrip("：:。.")


def reply_cards_for(reply: Reply, keyword: str) -> list[dict[str, Any]]:
    """The reply as one card, or several when it is too long for one."""
    sources = [SourceLink(s.citation, s.url, s.ref) for s in reply.sources]
    body = reply.body if reply.body.strip() else reply.header
    return answer_cards(body, title=title(reply) if reply.body.strip() else "", sources=sources, hint=reply.more,
                        footer=footer(reply, keyword), lang=lang_of(reply))


def reply_texts_for(reply: Reply) -> list[str]:
    """The reply as text messages (`reply_format = "text"`)."""
    return split_text(neutralize_mentions(reply.to_text()))


@dataclass
class Plan:
    """See the module docstring."""

    format: str  # "card" | "text"
    streamed: bool = False  # part 0 is a card streamed while the answer was written
    reply: Reply | None = None  # the final answer; None while an LLM is still writing it

    def dump(self) -> str:
        body: dict[str, Any] = {"v": PLAN_VERSION, "format": self.format, "streamed": self.streamed,
                                "reply": None if self.reply is None else asdict(self.reply)}
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, text: str) -> "Plan":
        """The plan written by `dump`; one that cannot be read is a card plan whose reply is to be
        made again (logged)."""
        try:
            body = json.loads(text)
            data = body["reply"]
            reply = None if data is None else Reply(**{**data, "sources": [Source(**s) for s in data["sources"]]})
            fmt = body["format"] if body["format"] in ("card", "text") else "card"
            return cls(fmt, bool(body["streamed"]), reply)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("an unfinished answer's plan could not be read (%s): its answer is made again", exc)
            return cls("card", streamed=True)
