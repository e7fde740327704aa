"""Answers an LLM writes while they are shown: when the text so far may be shown, and what a streamed
answer comes to once it is written.

The LLM answers `NO_ANSWER`, or a short sentence saying the documents do not cover the question, when
it has no answer; such text is never shown (`larkdou.answer.prompt.declined`). So:
- for a question put to the bot (a card already says "思考中…"), text is shown once it can no longer
  be the marker; should the LLM decline after all, the card becomes what `Streamed.declined` says;
- for any other group message, text is shown only once it is too long to be a decline
  (`DECLINE_MAX` characters) or complete: nothing is posted that would then have to be taken back.
"""

from __future__ import annotations

import contextlib

from larkdou.answer.base import Decision
from larkdou.answer.prompt import DECLINE_MAX, NO_ANSWER, declined
from larkdou.errors import LLMError

__all__ = ["conclude", "settle", "showable"]


def showable(text: str, addressed: bool) -> bool:
    """Whether the text an LLM has written so far may be shown (see the module docstring)."""
    head = text.strip().strip("。.!！\"'`").upper()
    if not head or head.startswith(NO_ANSWER) or NO_ANSWER.startswith(head):
        return False
    return addressed or (len(text.strip()) >= DECLINE_MAX and not declined(text))


def conclude(decision: Decision, text: str, *, failed: bool, shown: bool) -> Decision:
    """The complete decision for a streamed one whose LLM wrote `text` (or `failed`); `shown`: part of
    the text is already in the chat. Answers "llm_error" / "llm_declined" silence when the stream has
    nothing to say instead."""
    stream = decision.stream
    assert stream is not None
    if failed:
        reply, silence = stream.failed(shown), "llm_error"
    elif declined(text):
        reply, silence = stream.declined(), "llm_declined"
    else:
        reply, silence = stream.finish(text), ""
    if reply is None:
        return Decision(False, silence, score=decision.score)
    return Decision(True, decision.reason, score=decision.score, reply=reply)


async def settle(decision: Decision) -> Decision:
    """A decision with its answer complete: a streamed one is written out (nothing is shown) and
    concluded; any other is returned as it is."""
    if decision.stream is None:
        return decision
    parts: list[str] = []
    try:
        async with contextlib.aclosing(decision.stream.pieces()) as pieces:  # type: ignore[type-var]
            async for piece in pieces:
                parts.append(piece)
    except LLMError:
        return conclude(decision, "", failed=True, shown=False)
    return conclude(decision, "".join(parts), failed=False, shown=False)
