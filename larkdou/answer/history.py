"""The earlier exchange of a follow-up, as chat messages for the LLM.

A reply to the bot ("那 Redis 呢？") means little alone; the messages the context store returns for
it (`ContextStore.context`) go before the question, the user's as `user` turns and the bot's as
`assistant` turns, within a character budget that keeps the nearest ones.
"""

from __future__ import annotations

from larkdou.store.context import ROLE_BOT, ContextEntry, clip

MAX_HISTORY_CHARS = 3000


def history_messages(entries: list[ContextEntry], max_chars: int = MAX_HISTORY_CHARS) -> list[dict[str, str]]:
    """`entries` (oldest first) as LLM chat turns, oldest first; when they exceed `max_chars`
    characters the oldest are left out (the nearest one is clipped rather than dropped)."""
    turns: list[dict[str, str]] = []
    used = 0
    for e in reversed(entries):
        text = e.text.strip()
        if not text:
            continue
        if used + len(text) > max_chars:
            if turns:
                break
            text = clip(text, max_chars)
        turns.append({"role": "assistant" if e.role == ROLE_BOT else "user", "content": text})
        used += len(text)
    turns.reverse()
    return turns


def history_chars(turns: list[dict[str, str]]) -> int:
    """Characters the turns add to a prompt."""
    return sum(len(t["content"]) for t in turns)
