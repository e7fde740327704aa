"""What is said to the LLM.

The LLM sees the question and the numbered passages (clean text, each under its file and heading
path), cites them as [n], and answers exactly `NO_ANSWER` when the passages do not hold the answer;
such a reply is never sent. A follow-up comes after the earlier exchange it continues, as chat turns
(`history`, see `larkdou.answer.followup`). Replies themselves are composed in `larkdou.answer.compose`.
"""

from __future__ import annotations

import re

from larkdou.kb.index import Hit

NO_ANSWER = "NO_ANSWER"
MAX_PASSAGE_CHARS = 1200

SYSTEM = (
    "You are 豆哥 (larkdou), a technical assistant in a Feishu / Lark group chat. Answer the question "
    "using only the numbered passages from the project's documents. Cite the passages you use as [1], [2]. "
    "Reply in the language of the question, briefly (at most about 8 sentences); keep commands, code and "
    "config keys exactly as written, code in fenced blocks; no Markdown tables. If the passages do not "
    f"contain the answer, reply with exactly {NO_ANSWER} and nothing else."
)
HISTORY_NOTE = (
    " The earlier messages of the conversation come first: use them to understand what the last "
    "question refers to, and answer only that question.")
SYSTEM_NO_KB = (
    "You are 豆哥 (larkdou), a technical assistant in a Feishu / Lark chat. Answer briefly, as plain text, "
    f"in the language of the question. If you do not know, reply with exactly {NO_ANSWER}."
)

# phrases with which a model says the documents do not cover the question, instead of the marker
_DECLINES = re.compile(
    r"not (?:in|covered by|mentioned in|found in) the (?:provided )?(?:documents|passages|context)"
    r"|(?:documents|passages) do not (?:contain|mention|cover)"
    r"|(?:文档|资料|段落|上下文)(?:中|里)?(?:没有|并未|未)(?:提到|提及|包含|涉及|相关)"
    r"|无法(?:根据|从)(?:文档|资料|提供的)",
    re.IGNORECASE,
)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def build_messages(question: str, hits: list[Hit],
                   history: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """Chat messages for the LLM: the rules, the earlier exchange (`history`, user and assistant turns,
    oldest first) when the question follows up on it, then the numbered passages and the question."""
    history = history or []
    note = HISTORY_NOTE if history else ""
    if not hits:
        return [{"role": "system", "content": SYSTEM_NO_KB + note}, *history, {"role": "user", "content": question}]
    passages = "\n\n".join(f"[{n}] ({h.chunk.citation})\n{_clip(h.chunk.text, MAX_PASSAGE_CHARS)}"
                           for n, h in enumerate(hits, 1))
    user = f"Passages:\n\n{passages}\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM + note}, *history, {"role": "user", "content": user}]


DECLINE_MAX = 160  # characters: a longer reply is an answer even when it says the documents lack something


def declined(reply: str) -> bool:
    """Whether the LLM said the documents do not answer the question."""
    text = reply.strip().strip("。.!！\"'`")
    if text.upper().startswith(NO_ANSWER) or text.upper().endswith(NO_ANSWER):
        return True
    return len(text) < DECLINE_MAX and bool(_DECLINES.search(text))
