"""What an LLM writes, made safe for Lark: card markdown, plain text, and fence-aware splitting.

Lark's card markdown (JSON 2.0 `markdown` component, see docs/lark-cards.md) renders CommonMark
except HTML blocks, plus a few HTML tags of its own (`<at>`, `<font>`, `<a>`, `<link>`, `<person>`…).
So `to_lark_markdown` keeps the LLM's markdown and only changes what would be misread or refused:

- every `<` outside code becomes `&#60;` (so no `<at id=all>` or stray HTML reaches the card;
  `<br>` is kept), and an autolink `<https://…>` becomes `[https://…](https://…)`;
- links other than http(s) become their text (Lark only follows http and https), and images
  become links (a card image needs an uploaded `img_key`; a URL would make Lark refuse the card);
- headings are demoted three levels (`#` renders at 26 px in a card; `####` at 18 px);
- tables beyond the fourth become code blocks (Lark renders at most four per component).

Code (fenced, indented, inline) is never changed. The block structure comes from markdown-it's
token stream; inline rewriting walks each run of non-code lines once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from markdown_it import MarkdownIt

from larkdou.lark.text import encoded_size, split_text

MAX_TABLES = 4  # per markdown component (Lark)
HEADING_SHIFT = 3
_PARSER = MarkdownIt("commonmark").enable("table").disable("inline")  # block structure is all we need
_ATX = re.compile(r"^( {0,3})(#{1,6})(?=[ \t]|$)")
_URL = r"https?://[^\s()<>]+(?:\([^\s()<>]*\)[^\s()<>]*)*"
_DEST = r"[^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*"  # a link destination, balanced parentheses allowed
_LINK = re.compile(rf"(!?)\[([^\[\]\n]*)\]\(\s*({_DEST})(?:\s+\"[^\"\n]*\")?\s*\)")
_AUTOLINK = re.compile(rf"<({_URL})>")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TICKS = re.compile(r"`+")
_HTTP = re.compile(rf"^{_URL}$")
_AT_TAG = re.compile(r"<(?=\s*/?\s*at\b)", re.IGNORECASE)
_ESCAPES = {"\\": "&#92;", "*": "&#42;", "_": "&#95;", "~": "&sim;", "[": "&#91;", "]": "&#93;",
            "<": "&#60;", ">": "&#62;", "`": "&#96;", "#": "&#35;", "|": "&#124;"}


@dataclass
class _Blocks:
    """Per line of the source: what markdown-it says it is."""

    code: list[bool]  # inside a fenced or indented code block (fence lines included)
    open_fence: list[str]  # the opening line of the fence still open after this line, or ""
    replace: dict[int, str | None]  # line -> new text (None: drop the line)
    wrap: list[tuple[int, int]]  # line ranges [a, b) to put in a code fence (surplus tables)


def _blocks(lines: list[str], *, demote: bool) -> _Blocks:
    n = len(lines)
    blocks = _Blocks([False] * n, [""] * n, {}, [])
    tables = 0
    for tok in _PARSER.parse("\n".join(lines)):
        if tok.map is None:
            continue
        a, b = tok.map
        if tok.type in ("fence", "code_block"):
            for i in range(a, min(b, n)):
                blocks.code[i] = True
            if tok.type == "fence":
                closed = b - 1 > a and lines[b - 1].strip().startswith(tok.markup)
                for i in range(a, b - 1 if closed else min(b, n)):
                    blocks.open_fence[i] = lines[a]
        elif tok.type == "heading_open":
            blocks.replace.update(_heading(lines, a, b, tok.markup, demote))
        elif tok.type == "table_open":
            tables += 1
            if tables > MAX_TABLES:
                blocks.wrap.append((a, b))
                for i in range(a, b):
                    blocks.code[i] = True
    return blocks


def _heading(lines: list[str], a: int, b: int, markup: str, demote: bool) -> dict[int, str | None]:
    """Line replacements for one heading: demoted (cards) or made a plain line (text)."""
    if markup.startswith("#"):
        m = _ATX.match(lines[a])
        if m is None:  # a heading inside a list item or quote: leave it
            return {}
        rest = lines[a][m.end():].strip().rstrip("#").rstrip()
        level = min(6, len(markup) + HEADING_SHIFT)
        return {a: f"{m.group(1)}{'#' * level} {rest}" if demote else rest}
    # setext: text lines, then an underline of = or -
    text = " ".join(line.strip() for line in lines[a:b - 1])
    level = min(6, (1 if markup == "=" else 2) + HEADING_SHIFT)
    out: dict[int, str | None] = {i: None for i in range(a + 1, b)}
    out[a] = f"{'#' * level} {text}" if demote else text
    return out


def _rewrite(text: str, inline: Callable[[str], str], *, demote: bool) -> str:
    lines = text.split("\n")
    blocks = _blocks(lines, demote=demote)
    starts = {a for a, _ in blocks.wrap}
    ends = {b - 1 for _, b in blocks.wrap}
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            out.extend(inline("\n".join(run)).split("\n"))
            run.clear()

    for i, line in enumerate(lines):
        if i in starts and demote:
            flush()
            out.append("```")
        if blocks.code[i]:
            flush()
            out.append(line)
        elif i in blocks.replace:
            if blocks.replace[i] is not None:
                run.append(blocks.replace[i])  # type: ignore[arg-type]
        else:
            run.append(line)
        if i in ends and demote:
            out.append("```")
    flush()
    return "\n".join(out)


# ---- inline ------------------------------------------------------------------------------------
def _code_span(s: str, i: int) -> int:
    """End of the code span opening at s[i] (a backtick run), or -1 when it is not closed."""
    run = _TICKS.match(s, i).group()  # type: ignore[union-attr]
    for m in _TICKS.finditer(s, i + len(run)):
        if m.group() == run:
            return m.end()
    return -1


def _walk(s: str, on_link: Callable[[bool, str, str], str], on_lt: Callable[[str, int], tuple[str, int]]) -> str:
    """Copy `s`, leaving code spans alone, passing links/images to `on_link` and `<` to `on_lt`."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "`":
            end = _code_span(s, i)
            if end < 0:
                k = _TICKS.match(s, i).end()  # type: ignore[union-attr]
                out.append(s[i:k])
                i = k
            else:
                out.append(s[i:end])
                i = end
        elif c == "\\" and i + 1 < n:
            if s[i + 1] == "<":  # an escaped "<" is still a "<" to whoever renders it
                out.append(on_lt("<", 0)[0])
            else:
                out.append(s[i:i + 2])
            i += 2
        elif c in "![":
            m = _LINK.match(s, i)
            if m is None or (c == "!" and not m.group(1)):
                out.append(c)
                i += 1
            else:
                out.append(on_link(bool(m.group(1)), m.group(2), m.group(3)))
                i = m.end()
        elif c == "<":
            text, i = on_lt(s, i)
            out.append(text)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _card_inline(s: str) -> str:
    def link(image: bool, label: str, url: str) -> str:
        label = _walk(label, lambda im, lb, u: lb, lt)
        if not _HTTP.match(url):
            return label
        return f"[{label or url}]({url})"

    def lt(src: str, i: int) -> tuple[str, int]:
        m = _AUTOLINK.match(src, i)
        if m:
            return f"[{m.group(1)}]({m.group(1)})", m.end()
        m = _BR.match(src, i)
        if m:
            return "<br>", m.end()
        return "&#60;", i + 1

    return _walk(s, link, lt)


_EMPHASIS = re.compile(r"(\*\*|__|~~)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")


def _text_inline(s: str) -> str:
    def link(image: bool, label: str, url: str) -> str:
        if not url or label == url:
            return url or label
        return f"{label} ({url})" if label else url

    def lt(src: str, i: int) -> tuple[str, int]:
        m = _AUTOLINK.match(src, i)
        if m:
            return m.group(1), m.end()
        m = _BR.match(src, i)
        if m:
            return "\n", m.end()
        return "<", i + 1

    # emphasis markers go; code spans were copied untouched by _walk, so strip outside them only
    parts = re.split(r"(`+[^`]*`+)", _walk(s, link, lt))
    for k in range(0, len(parts), 2):
        parts[k] = _ITALIC.sub(r"\1", _EMPHASIS.sub(r"\2", parts[k]))
    return "".join(parts)


# ---- public --------------------------------------------------------------------------------------
def to_lark_markdown(text: str) -> str:
    """`text` (markdown as an LLM writes it) as a Lark card's markdown component should get it."""
    return _rewrite(text.replace("\r\n", "\n"), _card_inline, demote=True)


def to_plain_text(text: str) -> str:
    """`text` as a plain Lark text message: markers dropped, links as `label (url)`, code kept, and no
    `<at …>` tag left that Lark would turn into a mention."""
    plain = _rewrite(text.replace("\r\n", "\n"), _text_inline, demote=False)
    return neutralize_mentions(plain)


def neutralize_mentions(text: str) -> str:
    """`<at …>` would @mention someone (or everyone) in a text message; a zero-width space after
    `<` keeps it visible and inert."""
    return _AT_TAG.sub("<\u200b", text)


def escape_markdown(text: str) -> str:
    """Plain `text` (a title, a label) for a card's markdown: every character Lark's markdown would
    read as syntax becomes an HTML entity, as Lark's docs prescribe; newlines become spaces."""
    return "".join(_ESCAPES.get(c, c) for c in " ".join(text.split()))


def close_fences(text: str) -> str:
    """`text` with a code fence left open at its end closed (a partial answer being streamed)."""
    if "```" not in text and "~~~" not in text:
        return text
    lines = text.split("\n")
    opener = _blocks(lines, demote=False).open_fence[-1] if lines else ""
    return text + "\n" + _closer(opener) if opener else text


def _closer(opener: str) -> str:
    stripped = opener.lstrip()
    indent = opener[:len(opener) - len(stripped)]
    char = stripped[0]
    return indent + char * (len(stripped) - len(stripped.lstrip(char)))


def split_markdown(text: str, limit: int) -> list[str]:
    """Cut `text` into parts of at most `limit` bytes (`encoded_size`: the bytes a string costs inside
    a card inside a request body), at a paragraph boundary when one is in the second half of a part,
    else at a line boundary. A cut inside a code fence closes the fence in this part and opens it
    again in the next. A single line longer than a part is cut at sentence or word boundaries."""
    if encoded_size(text) <= limit:
        return [text]
    return _Splitter(text.split("\n"), limit).run()


class _Splitter:
    def __init__(self, lines: list[str], limit: int):
        self.lines, self.limit, self.size = lines, limit, encoded_size
        self.open_fence = _blocks(lines, demote=False).open_fence
        self.sizes = [encoded_size(line) for line in lines]
        fences = {f for f in self.open_fence if f}
        self.opener = {f: encoded_size(f) for f in fences}
        self.closer = {f: encoded_size(_closer(f)) for f in fences}
        self.nl = encoded_size("\n")
        self.parts: list[str] = []
        self.reopen = ""  # the fence opener the current part starts with
        self.cur: list[int] = []  # line indexes of the current part
        self.cur_size = 0

    def fits(self, i: int) -> bool:
        """Would the current part, with line `i` added, be within the limit (fence edges included)?"""
        total = self.cur_size + (self.nl if self.cur else 0) + self.sizes[i]
        if self.reopen:
            total += self.opener[self.reopen] + self.nl
        if self.open_fence[i]:
            total += self.nl + self.closer[self.open_fence[i]]
        return total <= self.limit

    def add(self, i: int) -> None:
        self.cur_size += (self.nl if self.cur else 0) + self.sizes[i]
        self.cur.append(i)

    def emit(self, upto: int) -> None:
        """Close the current part after line `upto`; the lines after it start the next part."""
        keep = [i for i in self.cur if i <= upto]
        rest = [i for i in self.cur if i > upto]
        self.parts.append(self._text(keep, upto))
        self.reopen = self.open_fence[upto]
        self.cur, self.cur_size = [], 0
        for i in rest:
            self.add(i)

    def _text(self, keep: list[int], last: int) -> str:
        head = self.reopen + "\n" if self.reopen else ""
        tail = "\n" + _closer(self.open_fence[last]) if self.open_fence[last] else ""
        return head + "\n".join(self.lines[i] for i in keep) + tail

    def best_cut(self) -> int:
        """The last blank line outside a fence in the second half of the part, else its last line."""
        cut, running = self.cur[-1], 0
        for j in self.cur[1:]:
            running += self.sizes[j] + self.nl
            if not self.lines[j].strip() and not self.open_fence[j] and running * 2 >= self.cur_size:
                cut = j
        return cut

    def run(self) -> list[str]:
        for i in range(len(self.lines)):
            if self.cur and not self.fits(i):
                self.emit(self.best_cut())
                if self.cur and not self.fits(i):
                    self.emit(self.cur[-1])
            if not self.fits(i):
                self.cut_line(i)
            self.add(i)
        if self.cur:
            self.parts.append(self._text(self.cur, self.cur[-1]))
        return [p.strip("\n") for p in self.parts if p.strip()]

    def cut_line(self, i: int) -> None:
        """Line `i` alone is over the limit: emit all but its last piece as parts of their own."""
        edges = (self.size(self.reopen) + self.nl if self.reopen else 0)
        if self.open_fence[i]:
            edges += self.nl + self.size(_closer(self.open_fence[i]))
        pieces = split_text(self.lines[i], max(16, self.limit - edges))
        for piece in pieces[:-1]:
            tail = "\n" + _closer(self.open_fence[i]) if self.open_fence[i] else ""
            self.parts.append((self.reopen + "\n" if self.reopen else "") + piece + tail)
            self.reopen = self.open_fence[i]
        self.lines[i] = pieces[-1] if pieces else ""
        self.sizes[i] = self.size(self.lines[i])


def trim_markdown(text: str, limit: int, note: str) -> str:
    """`text` with an open fence at its end closed if it fits in `limit` bytes; else as much of it as
    fits (see `split_markdown`: cut at a paragraph or line boundary, fences closed) and `note`."""
    if encoded_size(text) <= limit:
        closed = close_fences(text)
        if encoded_size(closed) <= limit:
            return closed
    tail = "\n\n" + note
    room = limit - encoded_size(tail)
    # only the lines that can be in the first part matter: split just those, up to the first line
    # that makes them too long (so there is a cut, and a fence open at it is closed)
    lines, used, nl = [], -encoded_size("\n"), encoded_size("\n")
    for line in text.split("\n"):
        lines.append(line)
        used += nl + encoded_size(line)
        if used > room:
            break
    return split_markdown("\n".join(lines), room)[0] + tail
