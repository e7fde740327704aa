"""The part of a passage that answers a question, cut at sentence or block boundaries.

A passage (a chunk's light Markdown) is read back into units: the sentences of a paragraph, whole
list items, whole code blocks, and a table's rows under its header. Each unit is scored by the
IDF-weighted question words it holds (more when the question asks for an amount, "how long", "多少",
and the unit states one). The excerpt starts at the best unit (with the short line that
introduces a code block or list, and the opening of its paragraph), then takes the units that
follow until the budget is spent, or until a third of it is and the next block matches nothing of
the question. A code block may take an excerpt that is still within its budget up to two budgets;
a table shows its header and the rows that match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from larkdou.kb.chunking import sentences
from larkdou.kb.tokens import tokenize

_MARKER = re.compile(r"^(?:[-*+]|\d{1,3}[.)])\s")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")
_CJK_EDGE = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
CODE_OVERRUN = 2.0  # a code block may take the excerpt up to this many budgets
MATCH_OVERRUN = 1.4  # so may the next sentence or item of the same block, up to this many, if it matches the question
ENOUGH = 0.3  # past this share of the budget, a following block that matches nothing ends the excerpt
HEADING_WEIGHT = 0.5  # a question word in the heading path counts this much for every unit below it
IDENTIFIER_WEIGHT = 2.0  # a config key, file name, number or error code in a question names what it is about
QUANTITY_WEIGHT = 0.5  # how much more a unit stating an amount counts, when the question asks for one
_ASKS_QUANTITY = re.compile(
    r"\bhow (?:many|much|long|often|large|big|old|far|fast|soon)\b|\b(?:what|which) (?:is the )?"
    r"(?:size|limit|maximum|minimum|number|port|timeout)\b|多少|多久|多长|多大|几[个次天种台张条秒分小年位]|上限|最多|最少",
    re.IGNORECASE)
_QUANTITY = re.compile(r"(?<![A-Za-z0-9_./#:-])\d+(?:[.,]\d+)?(?![0-9_/-]|\.\S)")


@dataclass
class Unit:
    kind: str  # "text", "item", "code", "row" (a table row), "table_head"
    text: str
    block: int  # which block of the passage it belongs to
    glue: str  # how it joins the unit before it


@dataclass
class Excerpt:
    text: str
    cut: bool  # part of the passage was left out after the excerpt


def _blocks(text: str) -> list[str]:
    """Blank-line separated blocks, a fenced code block (blank lines and all) being one."""
    blocks: list[str] = []
    current: list[str] = []
    fence = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if fence:
            current.append(line)
            if stripped.startswith(fence) and stripped.strip("`") == "":
                fence = ""
            continue
        if not stripped:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        m = re.match(r"(`{3,})", stripped)
        if m and not current:
            fence = m.group(1)
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _join_sentence(prev: str, text: str) -> str:
    return "" if _CJK_EDGE.search(prev[-1:]) and _CJK_EDGE.search(text[:1]) else " "


def units_of(text: str) -> list[Unit]:
    """A passage's units, in order, with how each joins the one before."""
    units: list[Unit] = []
    for b, block in enumerate(_blocks(text)):
        lines = block.split("\n")
        first_glue = "\n\n" if units else ""
        if block.lstrip().startswith("```"):
            units.append(Unit("code", block, b, first_glue))
        elif len(lines) >= 2 and lines[0].lstrip().startswith("|") and _TABLE_RULE.match(lines[1].strip()):
            units.append(Unit("table_head", "\n".join(lines[:2]), b, first_glue))
            units.extend(Unit("row", line, b, "\n") for line in lines[2:])
        elif _MARKER.match(lines[0].lstrip()):
            items: list[str] = []
            fence = ""
            for line in lines:
                stripped = line.strip()
                if fence:
                    items[-1] += "\n" + line
                    fence = "" if stripped.startswith(fence) and not stripped.strip("`") else fence
                    continue
                m = re.match(r"`{3,}", stripped)
                fence = m.group(0) if m else ""
                if not items or _MARKER.match(stripped):
                    items.append(line)  # an item or a nested item: each its own unit
                else:
                    items[-1] += "\n" + line
            units.extend(Unit("item", item, b, first_glue if i == 0 else "\n") for i, item in enumerate(items))
        else:
            for n, line in enumerate(lines):
                parts = sentences(line) or [line]
                for i, part in enumerate(parts):
                    glue = _join_sentence(parts[i - 1], part) if i else ("\n" if n else first_glue)
                    units.append(Unit("text", part, b, glue))
    return units


def _indent(unit: Unit) -> int:
    return len(unit.text) - len(unit.text.lstrip(" "))


def _render(units: list[Unit]) -> str:
    return "".join(u.text if i == 0 else u.glue + u.text for i, u in enumerate(units))


def _size(units: list[Unit]) -> int:
    return len(_render(units))


def asks_quantity(question: str) -> bool:
    """Whether the question asks for an amount: how many, how long, 多少, 多久, 几个…"""
    return bool(_ASKS_QUANTITY.search(question))


def holds_quantity(text: str) -> bool:
    """Whether the text states an amount ("24 h", "**1 year**", "2302 questions", "10GB", "1天"), not
    only a number inside an identifier, a version, a date or a link, or a list item's number."""
    return bool(_QUANTITY.search(_MARKER.sub("", text.lstrip())))


def _introduces(before: Unit, unit: Unit) -> bool:
    """Whether `before` is the short line that introduces the code block or list `unit` ("Install
    the dependencies:", "4. 运行算法 pipeline" above its command), or the item above a nested one."""
    if unit.kind not in ("code", "item") or len(before.text) > 160:
        return False
    return before.kind == "text" or (before.kind == "item" and (unit.kind == "code" or _indent(before) < _indent(unit)))


def score_units(units: list[Unit], heading: str, wanted: set[str], idf: Callable[[str], float],
                quantity: bool = False) -> list[float]:
    """Each unit's IDF-weighted sum of the question words: those it holds, and at half weight those
    only its passage's heading path holds; identifiers ("store.py", "230009") count double. When the
    question asks for an amount (`quantity`), a matching unit that states one counts more."""
    def weight(t: str) -> float:
        return idf(t) * (IDENTIFIER_WEIGHT if not t.isalpha() else 1.0)

    in_heading = set(tokenize(heading)) & wanted
    scores = []
    for u in units:
        have = set(tokenize(u.text)) & wanted
        score = sum(weight(t) for t in have) + HEADING_WEIGHT * sum(weight(t) for t in in_heading - have)
        if quantity and have and holds_quantity(u.text):
            score *= 1 + QUANTITY_WEIGHT
        scores.append(score)
    return scores


def _table(units: list[Unit], head: int, scores: list[float], budget: int) -> Excerpt:
    rows = [i for i in range(head + 1, len(units)) if units[i].kind == "row" and units[i].block == units[head].block]
    best = max((scores[i] for i in rows), default=0.0)
    wanted = [i for i in rows if best and scores[i] >= best / 2] or rows
    picked = [units[head]]
    for i in wanted:
        if _size(picked + [units[i]]) > budget and len(picked) > 1:
            break
        picked.append(units[i])
    return Excerpt(_render(picked), len(picked) - 1 < len(rows))


def excerpt_at(units: list[Unit], scores: list[float], anchor: int, budget: int) -> Excerpt:
    """The excerpt around `units[anchor]`, at most about `budget` characters (see the module docstring)."""
    if units[anchor].kind in ("row", "table_head"):
        head = anchor if units[anchor].kind == "table_head" else \
            max(i for i in range(anchor) if units[i].kind == "table_head")
        return _table(units, head, scores, budget)
    start = anchor
    if scores[anchor] == 0:
        start = 0
    else:
        first = anchor
        while first > 0 and units[first].kind == "text" and units[first].glue in ("", " "):
            first -= 1  # back to the start of the sentence's line
        if _size(units[first:anchor + 1]) - len(units[anchor].text) <= budget // 3:
            start = first  # the paragraph's opening sentences, for context
        if start > 0 and _introduces(units[start - 1], units[start]):
            start -= 1  # the line that introduces a code block or list, or the item above a nested one
    picked = [units[start]]
    end = start + 1
    while end < len(units):
        unit = units[end]
        before = _size(picked)
        if before >= budget * ENOUGH and unit.glue == "\n\n" and scores[end] == 0:
            break  # the answer is shown; the next block is about something else
        size = before + len(unit.glue) + len(unit.text)
        fits = size <= budget or (before <= budget and (
            (unit.kind == "code" and size <= budget * CODE_OVERRUN)
            or (unit.glue != "\n\n" and scores[end] > 0 and size <= budget * MATCH_OVERRUN)))
        if not fits:
            break
        picked.append(unit)
        end += 1
    text = _render(picked)
    cut = end < len(units)
    if cut and units[end].glue in (" ", ""):
        text += "…"  # stopped inside a paragraph
    return Excerpt(text, cut)


def excerpt(passage: str, heading: str, wanted: set[str], idf: Callable[[str], float], budget: int,
            quantity: bool = False) -> Excerpt:
    """The part of `passage` that answers the question (its tokens: `wanted`; `quantity`: it asks for
    an amount), about `budget` characters."""
    units = units_of(passage)
    if not units:
        return Excerpt("", False)
    scores = score_units(units, heading, wanted, idf, quantity)
    return excerpt_at(units, scores, max(range(len(units)), key=lambda i: (scores[i], -i)), budget)
