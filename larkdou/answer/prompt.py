"""What is said to the LLM, and how replies are written for the chat (plain Lark text).

The LLM sees the question and numbered passages, cites them as [n], and answers exactly `NO_ANSWER`
when the passages do not hold the answer; such a reply is never sent. Without an LLM, the reply is
the best passages themselves, labelled as excerpts.
"""

from __future__ import annotations

import re

from larkdou.kb.index import Hit

NO_ANSWER = "NO_ANSWER"
MAX_PASSAGE_CHARS = 1200
MAX_EXCERPT_CHARS = 360
MAX_REPLY_CHARS = 4000

SYSTEM = (
    "You are 豆哥 (larkdou), a technical assistant in a Feishu / Lark group chat. Answer the question "
    "using only the numbered passages from the project's documents. Cite the passages you use as [1], [2]. "
    "Reply in the language of the question, briefly (at most about 8 sentences), as plain text without "
    f"Markdown tables. If the passages do not contain the answer, reply with exactly {NO_ANSWER} and nothing else."
)
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
_CITE = re.compile(r"\[(\d{1,2})\]")

NOT_BUILT = (
    "知识库还没有建立，暂时无法回答。请管理员运行 `larkdou kb build --docs <文档目录> --config <配置文件>`。\n"
    "The knowledge base is not built yet. Build it with `larkdou kb build --docs DIR --config FILE`."
)
def introduction(recall_keyword: str) -> str:
    """The reply to a greeting addressed to the bot."""
    return (
        f"你好！我是这里的知识助手：直接问技术问题（群里请 @我），我会从文档里找答案并注明出处；"
        f"说“{recall_keyword}”，我会撤回我在这个群里发过的消息。\n"
        f"Hi! Ask me a technical question (in a group, @mention me) and I will answer from the docs with "
        f"sources; say \"{recall_keyword}\" and I take back what I said in this chat."
    )


NO_MATCH = (
    "知识库里没有找到和这个问题相关的内容。\n"
    "I found nothing about this in the knowledge base."
)


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def build_messages(question: str, hits: list[Hit]) -> list[dict[str, str]]:
    """Chat messages for the LLM: the rules, then the numbered passages and the question."""
    if not hits:
        return [{"role": "system", "content": SYSTEM_NO_KB}, {"role": "user", "content": question}]
    passages = "\n\n".join(f"[{n}] ({h.chunk.citation})\n{_clip(h.chunk.text, MAX_PASSAGE_CHARS)}"
                           for n, h in enumerate(hits, 1))
    user = f"Passages:\n\n{passages}\n\nQuestion: {question}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def declined(reply: str) -> bool:
    """Whether the LLM said the documents do not answer the question."""
    text = reply.strip().strip("。.!！\"'`")
    if text.upper().startswith(NO_ANSWER) or text.upper().endswith(NO_ANSWER):
        return True
    return len(text) < 160 and bool(_DECLINES.search(text))


def _sources(hits: list[Hit], numbers: list[int]) -> str:
    lines = [f"[{n}] {hits[n - 1].chunk.citation}" for n in numbers]
    return "来源 Sources:\n" + "\n".join(lines)


def llm_reply(reply: str, hits: list[Hit]) -> tuple[str, list[str]]:
    """The LLM's answer followed by the sources it cited (all passages if it cited none)."""
    cited = sorted({int(n) for n in _CITE.findall(reply) if 1 <= int(n) <= len(hits)})
    numbers = cited or list(range(1, len(hits) + 1))
    body = _clip(reply, MAX_REPLY_CHARS)
    if not hits:
        return body, []
    return f"{body}\n\n{_sources(hits, numbers)}", [hits[n - 1].chunk.citation for n in numbers]


def extractive_reply(hits: list[Hit]) -> tuple[str, list[str]]:
    """The passages themselves, clearly labelled as excerpts, with their sources."""
    parts = ["以下是知识库中的相关原文摘录（未经整理）。\nExcerpts from the knowledge base:"]
    parts += [f"[{n}] {_clip(h.chunk.text, MAX_EXCERPT_CHARS)}" for n, h in enumerate(hits, 1)]
    parts.append(_sources(hits, list(range(1, len(hits) + 1))))
    return "\n\n".join(parts), [h.chunk.citation for h in hits]
