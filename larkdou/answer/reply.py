"""A reply as a structure: what the bot says, in which language, citing which sources.

The body is light Markdown that a Lark card renders (code fences, pipe tables, list markers,
`inline code`) and that also reads well as plain text; `Reply.to_text()` is the plain-text message
sent today. A card renderer builds its header, markdown element and source links from the same
fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from larkdou.kb.chunking import Chunk
from larkdou.kb.document import PATH_SEPARATOR, language

# header, sources label, "full text" label, per language
_WORDS = {
    "zh": {"sources": "来源", "more": "全文"},
    "en": {"sources": "Source", "more": "Full text"},
}


@dataclass
class Source:
    """Where (part of) a reply comes from."""

    path: str  # the file, relative to the document folder
    heading: str = ""  # the heading path, " › "-separated
    title: str = ""  # the document's title
    url: str = ""  # a link to the section, when [kb] source_url is set
    ref: str = ""  # how the body cites it, e.g. "[1]" in an LLM's answer

    @property
    def citation(self) -> str:
        """"file › heading path" for people: the document's title (already said by the file) left
        out, long headings shortened."""
        parts = self.heading.split(PATH_SEPARATOR) if self.heading else []
        if len(parts) > 1 and parts[0] == self.title:
            parts = parts[1:]
        return PATH_SEPARATOR.join([self.path] + [short_heading(p) for p in parts])


def short_heading(heading: str, limit: int = 40) -> str:
    """A heading of at most about `limit` characters: a trailing "(…)" dropped, then cut."""
    if len(heading) > limit:
        heading = re.sub(r"\s*[(（][^()（）]*[)）]\s*$", "", heading) or heading
    return heading if len(heading) <= limit else heading[:limit].rstrip() + "…"


@dataclass
class Reply:
    """What the bot says. `kind`: "extractive" (quoted from the documents), "llm" (written by the
    LLM from the documents), "no_match" (nothing found; says what the bot covers) or "notice"."""

    language: str  # "zh" or "en": the question's language
    body: str  # Markdown (see the module docstring)
    kind: str = "notice"
    header: str = ""  # a short title line, in `language`
    sources: list[Source] = field(default_factory=list)  # at most a few, best first
    more: str = ""  # where to read on, e.g. the full section's link; "" when the body is complete

    def to_text(self) -> str:
        """The reply as a plain-text Lark message."""
        words = _WORDS.get(self.language, _WORDS["en"])
        parts = [f"{self.header}\n{self.body}" if self.header else self.body]
        if self.sources:
            label = words["sources"]
            lines = [f"{s.ref} {s.citation}" if s.ref else s.citation for s in self.sources]
            sep = "：" if self.language == "zh" else ": "
            pad = " " * (len(label) * (2 if self.language == "zh" else 1) + len(sep))
            parts.append(f"{label}{sep}" + f"\n{pad}".join(lines))
        text = "\n\n".join(p for p in parts if p.strip())
        if self.more:
            text += ("\n" if self.sources else "\n\n") + self.more
        return text


_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_ZH_GRAMMAR = re.compile(r"[的了吗呢么哪]|怎么|什么|如何|为什么|可以|是否")


def question_language(question: str) -> str:
    """The language to reply in: Chinese when a third of the question's letters are Chinese, when it
    opens and ends in Chinese around an English error message ("报错 Repo id must be … 怎么解决"), or
    when it ends in Chinese and is built with Chinese grammar words."""
    words = [w for w in re.split(r"[\s\W]+", question) if w]
    if words and _CJK_CHAR.match(words[0]) and _CJK_CHAR.search(words[-1][-1:]):
        return "zh"
    if words and _CJK_CHAR.search(words[-1][-1:]) and _ZH_GRAMMAR.search(question):
        return "zh"  # "kubernetes 的 ingress 怎么配置": English terms in a Chinese sentence
    return language(question, share=1 / 3)


def source_url(base: str, chunk: Chunk) -> str:
    """The link to `chunk`'s section under `base` ("" without a base): base + path + #anchor."""
    if not base:
        return ""
    url = base if base.endswith("/") else base + "/"
    url += quote(chunk.source)
    return f"{url}#{quote(chunk.anchor)}" if chunk.anchor else url


def source_of(chunk: Chunk, base_url: str = "") -> Source:
    return Source(chunk.source, chunk.heading, chunk.title, source_url(base_url, chunk))


def more_hint(lang: str, source: Source) -> str:
    """Where to read the rest of a cut excerpt."""
    if source.url:
        return f"{_WORDS[lang]['more']}{'：' if lang == 'zh' else ': '}{source.url}"
    return ("（节选，完整内容见上面的来源；也可以换个更具体的问法再问我）" if lang == "zh"
            else "(An excerpt: the source above has the rest, or ask me something more specific.)")
