"""The answering interface: a message in, a decision (answer or stay silent) and reply text out.

The assistant does not care how answers are made; it calls `Answerer.decide` and sends `text` when
`answer` is true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from larkdou.message import Message


@dataclass
class Decision:
    answer: bool
    # answered: "p2p", "mentioned", "relevant", "no_kb"; silent: "chitchat", "not_relevant", "llm_check"
    # (the LLM said no to a borderline message), "llm_error", "llm_declined", "no_kb", "not_text", "from_bot", "empty"
    reason: str
    text: str = ""  # the reply, when answer is true
    sources: list[str] = field(default_factory=list)
    score: float | None = None  # addressed: relevance in [0, 1] of the best passage; group: the answer probability
    mode: str = ""  # how the text was made: "llm", "extractive" or "notice" (a fixed message)


@runtime_checkable
class Answerer(Protocol):
    async def decide(self, msg: Message) -> Decision:
        """Decide whether to answer `msg` and produce the reply. Must not raise for ordinary failures
        (LLM down, nothing relevant): those are a silent Decision with the reason."""
        ...

    async def aclose(self) -> None: ...
