"""The answering interface: a message in, a decision (answer or stay silent) and reply text out.

The assistant does not care how answers are made; it calls `Answerer.decide` and sends `text` when
`answer` is true. `reply` is the same answer as a structure (language, header, Markdown body,
sources), for renderers that do more than plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from larkdou.answer.reply import Reply
from larkdou.message import Message


@dataclass
class Decision:
    answer: bool
    # answered: "p2p", "mentioned", "reply" (to the bot), "thread" (where the bot answered), "relevant",
    # "no_kb", "greeting", "command"; silent: "chitchat", "not_relevant", "llm_check" (the LLM said no to a
    # borderline message), "llm_error", "llm_declined", "no_kb", "not_text", "from_bot", "empty", "mode_off"
    # (the chat's mode is "off"), "mention_only" (mode "mention", not meant for the bot)
    reason: str
    text: str = ""  # the reply as plain text, when answer is true (reply.to_text() when a reply is given)
    sources: list[str] = field(default_factory=list)  # "file › heading" of each source
    score: float | None = None  # addressed: how strongly the best passage matches; group: the answer probability
    mode: str = ""  # how the text was made: "llm", "extractive", "no_match" or "notice" (a fixed message)
    reply: Reply | None = None  # the reply as a structure

    def __post_init__(self) -> None:
        if self.reply is not None:
            self.text = self.text or self.reply.to_text()
            self.sources = self.sources or [s.citation for s in self.reply.sources]
            self.mode = self.mode or self.reply.kind


@runtime_checkable
class Answerer(Protocol):
    async def decide(self, msg: Message) -> Decision:
        """Decide whether to answer `msg` and produce the reply. Must not raise for ordinary failures
        (LLM down, nothing relevant): those are a silent Decision with the reason."""
        ...

    async def aclose(self) -> None: ...
