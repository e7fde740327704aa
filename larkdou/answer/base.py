"""The answering interface: a message in, a decision (answer or stay silent) and reply text out.

The assistant does not care how answers are made; it calls `Answerer.decide` and sends `text` when
`answer` is true. `reply` is the same answer as a structure (language, header, Markdown body,
sources), for renderers that do more than plain text.

An answerer that can stream takes `decide(msg, stream=True)`: an answer an LLM is about to write may
then come as `Decision.stream` (a `Streamed`: its text as it is written, and how to make the final
reply of it) instead of `reply`/`text`, so that it can be shown while it is written. Whether it
answers in the end is only known once the text is complete (the LLM may decline, or fail):
`larkdou.answer.streamed.settle` turns such a decision into a complete one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator, Callable, Protocol, runtime_checkable

from larkdou.answer.reply import Reply
from larkdou.message import Message


@dataclass
class Streamed:
    """An answer an LLM is about to write (see the module docstring and `larkdou.answer.streamed`)."""

    pieces: Callable[[], AsyncIterator[str]]  # starts the LLM; its text as written; LLMError when it fails
    finish: Callable[[str], Reply]  # the whole text -> the reply, citing the sources it used
    language: str  # the question's, "zh" or "en": for what is shown while waiting
    addressed: bool  # put to the bot: shown at once; otherwise only once the text is clearly an answer
    declined: Callable[[], Reply | None]  # what to say when the LLM declines; None: nothing
    failed: Callable[[bool], Reply | None]  # what to say when it fails (True: part of the text is already shown)


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
    stream: Streamed | None = None  # instead of reply/text: an answer being written (answer is then true)

    def __post_init__(self) -> None:
        if self.reply is not None:
            self.text = self.text or self.reply.to_text()
            self.sources = self.sources or [s.citation for s in self.reply.sources]
            self.mode = self.mode or self.reply.kind


@runtime_checkable
class Answerer(Protocol):
    async def decide(self, msg: Message) -> Decision:
        """Decide whether to answer `msg` and produce the reply. Must not raise for ordinary failures
        (LLM down, nothing relevant): those are a silent Decision with the reason. An answerer that
        streams also takes a keyword `stream: bool = False` (see the module docstring)."""
        ...

    async def aclose(self) -> None: ...
