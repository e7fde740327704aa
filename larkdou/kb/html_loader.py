"""HTML documents, and the HTML found inside Markdown, as clean text.

Scripts, styles, comments, badges and images without a meaningful description are dropped; tables
become pipe tables; headings of a page start sections.
"""

from __future__ import annotations

import re
from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from larkdou.kb.document import Document, SectionBuilder, fence, pipe_table

_NOISE_TAGS = ["script", "style", "noscript", "template", "svg", "video", "audio", "iframe", "head"]
_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "ul", "ol", "table", "section", "article", "blockquote", "pre",
               "details", "summary", "center", "dd", "dt", "dl", "figure", "figcaption", "hr"}
_HEADING = re.compile(r"^h([1-6])$")
_PLACEHOLDER_ALT = re.compile(
    r"^(?:image|img|picture|pic|photo|logo|icon|screenshot|screen ?shot|figure|fig|badge|shield|video|gif|"
    r"图片?|截图|示意图|插图|图标)\s*\d*$", re.IGNORECASE)
_FILE_NAME = re.compile(r"^[\w.\-]+\.(?:png|jpe?g|gif|svg|webp|bmp)$", re.IGNORECASE)
_BADGE_SRC = re.compile(r"shields\.io|badgen\.net|badge|/workflows/.+\.svg|codecov\.io|travis-ci", re.IGNORECASE)


def image_text(alt: str, src: str) -> str:
    """An image's alt text when it describes something; "" for badges, placeholders and file names."""
    alt = " ".join(alt.split())
    if not alt or _BADGE_SRC.search(src or "") or _PLACEHOLDER_ALT.match(alt) or _FILE_NAME.match(alt):
        return ""
    return alt


class _Flattener:
    """Text of an element: images by their meaningful alt text, block elements on their own lines,
    list items with a "- " marker. Tables and <pre> blocks become placeholders (kept in `kept`) so
    that whitespace clean-up leaves them intact."""

    def __init__(self) -> None:
        self.kept: list[tuple[str, str]] = []

    def _keep(self, kind: str, text: str) -> str:
        self.kept.append((kind, text))
        return f"\n\n\x00K{len(self.kept) - 1}\x00\n\n"

    def rows(self, table: Tag) -> list[list[str]]:
        rows = []
        for tr in table.find_all("tr"):
            cells = [" ".join(self.text(td).split()) for td in tr.find_all(["td", "th"])]
            if any(cells):
                rows.append(cells)
        return rows

    def text(self, node: Tag) -> str:
        parts: list[str] = []
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
            elif isinstance(child, Tag):
                if child.name == "img":
                    parts.append(image_text(str(child.get("alt") or ""), str(child.get("src") or "")))
                elif child.name == "table":
                    rows = self.rows(child)
                    if len(rows) > 1:
                        parts.append(self._keep("table", pipe_table(rows)))
                    else:  # a lone header row (a table used for layout) says nothing as a table
                        parts.append("\n" + " · ".join(c for r in rows for c in r if c) + "\n")
                elif child.name == "pre":
                    parts.append(self._keep("code", fence(child.get_text())))
                elif child.name == "li":
                    parts.append("\n- " + " ".join(self.text(child).split()) + "\n")
                else:
                    inner = self.text(child)
                    parts.append(f"\n{inner}\n" if child.name in _BLOCK_TAGS else inner)
        return "".join(parts)

    def blocks(self, text: str) -> list[tuple[str, str]]:
        """(kind, text) of each paragraph of flattened text, placeholders restored."""
        out = []
        for para in _paragraphs(text):
            m = re.fullmatch(r"\x00K(\d+)\x00", para)
            if m:
                out.append(self.kept[int(m.group(1))])
            elif all(line.startswith("- ") for line in para.split("\n")):
                out.extend(("item", line) for line in para.split("\n"))
            else:
                out.append(("text", para))
        return [(k, t) for k, t in out if t.strip()]


def _soup(html: str | bytes) -> BeautifulSoup:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_NOISE_TAGS):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    return soup


def _paragraphs(text: str) -> list[str]:
    out, current = [], []
    for line in [" ".join(line.split()) for line in text.split("\n")] + [""]:
        if line:
            current.append(line)
        elif current:
            out.append("\n".join(current))
            current = []
    return out


def fragment_blocks(html: str) -> list[tuple[str, str]]:
    """(kind, text) blocks of an HTML fragment (as found in Markdown): tags, comments, badges dropped."""
    flat = _Flattener()
    return flat.blocks(flat.text(_soup(html)))


def load_html(path: Path) -> Document:
    """An HTML page: its headings start sections; scripts, styles and navigation noise dropped."""
    soup = _soup(path.read_bytes())
    body = soup.body or soup
    for node in list(body.find_all(_HEADING)):
        node.replace_with(f"\n\n\x00H{node.name[1]}\x00{' '.join(node.get_text(' ').split())}\n\n")
    flat = _Flattener()
    out = SectionBuilder()
    for kind, text in flat.blocks(flat.text(body)):
        m = re.fullmatch(r"\x00H(\d)\x00(.*)", text)
        if m:
            out.heading(int(m.group(1)), m.group(2))
        else:
            out.add(kind, text)
    return out.done()
