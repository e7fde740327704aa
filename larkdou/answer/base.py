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
    reason: str  # e.g. "p2p", "mentioned", "relevant", "chitchat", "not_relevant", "llm_error", "no_kb"
    text: str = ""  # the reply, when answer is true
    sources: list[str] = field(default_factory=list)
    score: float | None = None


@runtime_checkable
class Answerer(Protocol):
    async def decide(self, msg: Message) -> Decision:
        """Decide whether to answer `msg` and produce the reply. Must not raise for ordinary failures
        (LLM down, nothing relevant): those are a silent Decision with the reason."""
        ...

    async def aclose(self) -> None: ...
