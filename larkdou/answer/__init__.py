"""Answer pipeline behind the `Answerer` interface."""

from __future__ import annotations

from larkdou.answer.base import Answerer, Decision
from larkdou.config import Settings


def build_answerer(settings: Settings, *, bot_open_id: str = "") -> Answerer:
    """The full pipeline: policy → retrieve → prompt → LLM, or excerpts when no LLM is configured.

    The knowledge base is loaded now (a broken one, or an embedding model that cannot be loaded, is
    a `KnowledgeBaseError` here rather than at the first message) and reloaded whenever
    `larkdou kb build` replaces it. Without a built knowledge base, direct chats and @mentions get a
    note saying how to build it (or the LLM's own answer when `[llm]` is configured); groups stay silent.
    """
    from larkdou.answer.llm import make_llm
    from larkdou.answer.pipeline import KBAnswerer
    from larkdou.kb.index import open_kb

    kb = open_kb(settings)
    return KBAnswerer(settings, kb=kb, llm=make_llm(settings), bot_open_id=bot_open_id)


__all__ = ["Answerer", "Decision", "build_answerer"]
