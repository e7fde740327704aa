"""Answer pipeline behind the `Answerer` interface."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from larkdou.answer.base import Answerer, Decision
from larkdou.config import Settings

if TYPE_CHECKING:
    from larkdou.store.base import Ledger
    from larkdou.store.context import ContextStore

log = logging.getLogger(__name__)


def build_answerer(settings: Settings, *, bot_open_id: str = "", context: "ContextStore | None" = None,
                   ledger: "Ledger | None" = None) -> Answerer:
    """The full pipeline: the chat's settings → policy → retrieve → prompt → LLM, or excerpts when no
    LLM is configured. `context` and `ledger` (the assistant's store) let it recognise replies to the
    bot and answer follow-ups with the earlier exchange.

    Every knowledge base a chat uses (`[[groups]] kb`, "default" otherwise) is loaded now: a broken
    one, or an embedding model that cannot be loaded, is a `KnowledgeBaseError` here rather than at the
    first message; one not built is a log line here, and addressed questions in its chats get a note
    saying how to build it (or the LLM's own answer when `[llm]` is configured); groups stay silent.
    Each is reloaded whenever `larkdou kb build` replaces it.
    """
    from larkdou.answer.llm import make_llm
    from larkdou.answer.pipeline import KBAnswerer
    from larkdou.groups import ANY_CHAT, kbs_in_use
    from larkdou.kb.registry import KBRegistry

    kbs = KBRegistry(settings)
    for name, chats in kbs_in_use(settings).items():
        if kbs.preload(name) is None:
            where = ", ".join("every other chat" if c == ANY_CHAT else f"chat {c}" for c in chats)
            option = "" if name == "default" else f" --name {name}"
            log.warning("knowledge base %r (%s) is not built: questions put to the bot there get a \"not built\" "
                        "reply; build it with `larkdou kb build%s --docs DIR`", name, where, option)
    return KBAnswerer(settings, kbs=kbs, llm=make_llm(settings), bot_open_id=bot_open_id, context=context,
                      ledger=ledger)


__all__ = ["Answerer", "Decision", "build_answerer"]
