"""Markdown documents: markdown-it-py's syntax tree walked into clean, structured sections.

Kept: headings (as the heading path), paragraphs, code blocks (fenced, whole), tables (pipe rows,
one a line), list items (with their markers and nested content), link text, `inline code`, and the
alt text of images that describe something. Dropped: HTML tags and comments (their text is kept),
badges, image placeholders ("image", file names), link targets, emphasis marks, YAML front matter.
A README's layout table (an HTML table whose cells hold Markdown lists, under a header row such as
"LLM · File Format · Integration") labels each cell's content with its column's header ("LLM:"
before that cell's list).
"""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from larkdou.kb.document import Document, SectionBuilder, Slugger, fence, list_item, pipe_table
from larkdou.kb.html_loader import fragment_blocks, image_text

_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.DOTALL)
_CJK = r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]"
_SOFT = "\x01"
_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""\b(alt|src)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def _html_inline(html: str) -> str:
    if _HTML_BREAK.fullmatch(html.strip()):
        return "\n"
    if _HTML_IMG.fullmatch(html.strip()):
        attrs = {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None) for m in _ATTR.finditer(html)}
        return image_text(attrs.get("alt", ""), attrs.get("src", ""))
    return ""  # any other tag: its text is in the neighbouring text nodes


def inline_text(node: SyntaxTreeNode) -> str:
    """The text of an inline container: link text without targets, `code` kept, soft breaks joined."""
    parts: list[str] = []
    for child in node.children:
        kind = child.type
        if kind == "text":
            parts.append(child.content)
        elif kind == "code_inline":
            parts.append(f"`{child.content}`")
        elif kind == "softbreak":
            parts.append(_SOFT)
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "image":
            parts.append(image_text(inline_text(child), str(child.attrs.get("src", ""))))
        elif kind == "html_inline":
            parts.append(_html_inline(child.content))
        elif child.children:  # link, strong, em, s
            parts.append(inline_text(child))
    text = "".join(parts)
    text = re.sub(rf"(?<={_CJK}){_SOFT}(?={_CJK})", "", text)
    text = text.replace(_SOFT, " ")
    return "\n".join(" ".join(line.split()) for line in text.split("\n")).strip()


def _inline_of(node: SyntaxTreeNode) -> str:
    return inline_text(node.children[0]) if node.children else ""


def _table(node: SyntaxTreeNode) -> str:
    rows = [[_inline_of(cell) for cell in row.children]
            for part in node.children for row in part.children]
    return pipe_table(rows)


def _list_items(node: SyntaxTreeNode) -> list[str]:
    """Each item of a list as Markdown: its marker, then its content (nested lists indented)."""
    ordered = node.type == "ordered_list"
    start = int(node.attrs.get("start", 1) or 1) if ordered else 1
    items = [list_item(f"{n}. " if ordered else "- ", _blocks(item.children))
             for n, item in enumerate(node.children, start)]
    return [i for i in items if i]


def _blocks(nodes: list[SyntaxTreeNode]) -> list[tuple[str, str]]:
    """(kind, Markdown) of block nodes that carry no heading (list item content, quotes)."""
    out: list[tuple[str, str]] = []
    for node in nodes:
        kind = node.type
        if kind == "paragraph":
            out.append(("text", _inline_of(node)))
        elif kind in ("fence", "code_block"):
            lang = node.info.split()[0] if kind == "fence" and node.info.strip() else ""
            out.append(("code", fence(node.content, lang)))
        elif kind == "table":
            out.append(("table", _table(node)))
        elif kind in ("bullet_list", "ordered_list"):
            out.extend(("item", item) for item in _list_items(node))
        elif kind == "html_block":
            out.extend(fragment_blocks(node.content))
        elif kind == "blockquote":
            out.extend(_blocks(node.children))
        elif kind == "heading":  # a heading inside a list item or quote: keep it as text
            out.append(("text", _inline_of(node)))
    return [(k, t) for k, t in out if t.strip()]


class _LayoutTable:
    """Where the HTML blocks of a Markdown file have left off inside a table: the header row's
    cells, and the cell that the Markdown between the HTML blocks belongs to."""

    _PART = re.compile(r"<(/?)(table|tr|td|th)\b[^>]*>|<[^>]*>|([^<]+)", re.IGNORECASE)

    def __init__(self) -> None:
        self._start(depth=0)

    def _start(self, depth: int) -> None:
        self.depth = depth
        self.headers: list[str] = []
        self.row = self.col = -1
        self.in_cell = self.labelled = False

    def feed(self, html: str) -> None:
        for m in self._PART.finditer(html):
            closing, tag, text = m.group(1), (m.group(2) or "").lower(), m.group(3)
            if text is not None:
                if self.depth == 1 and self.in_cell and self.row == 0 and self.col < len(self.headers):
                    self.headers[self.col] += " " + text
            elif tag == "table":
                if not closing:
                    self.depth += 1
                    if self.depth == 1:
                        self._start(depth=1)  # a new top-level table
                elif self.depth <= 1:
                    self._start(depth=0)
                else:
                    self.depth -= 1
            elif self.depth != 1:
                continue
            elif tag == "tr" and not closing:
                self.row, self.col, self.in_cell = self.row + 1, -1, False
            elif tag in ("td", "th"):
                self.in_cell = not closing
                if not closing:
                    self.col += 1
                    self.labelled = False
                    if self.row == 0:
                        self.headers.append("")

    def label(self) -> str:
        """The header of the open cell, the first time Markdown is found in it; "" otherwise."""
        if self.depth != 1 or not self.in_cell or self.row < 1 or self.labelled \
                or self.col >= len(self.headers):
            return ""
        self.labelled = True
        header = " ".join(self.headers[self.col].split())
        return f"{header}:" if header and len(header) <= 60 else ""


def parse_markdown(text: str) -> Document:
    """Markdown text into sections under their heading paths, with GitHub-style anchors."""
    tree = SyntaxTreeNode(_parser().parse(_FRONT_MATTER.sub("", text)))
    out = SectionBuilder()
    slugs = Slugger()
    table = _LayoutTable()
    for node in tree.children:
        if node.type == "heading":
            table = _LayoutTable()
            title = _inline_of(node)
            out.heading(int(node.tag[1]), title, anchor=slugs.slug(title))
            continue
        if node.type == "html_block":
            table.feed(node.content)
        else:
            label = table.label()
            if label:
                out.add("text", label)
        for kind, block in _blocks([node]):
            out.add(kind, block)
    return out.done()


def load_markdown(path: Path) -> Document:
    return parse_markdown(path.read_text(encoding="utf-8", errors="replace"))
