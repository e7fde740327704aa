"""Lark interactive cards for answers, built in one place (pure functions, golden-tested).

A card is Lark's card JSON 2.0 (`"schema": "2.0"`, see docs/lark-cards.md): an optional header
(title), a markdown element with the answer, then, under a divider, the sources (links when they
have an http(s) URL), an optional hint and a short footer saying how to recall. `config.update_multi`
is always true, so the card can be updated (PATCH) while an answer is streamed into it.

Size: Lark refuses a card whose *request body* is over 30 KB (230025). The answer travels JSON-encoded
twice (the card is a JSON string inside the request JSON), so sizes are measured that way, in UTF-8
bytes, against `CARD_BUDGET`, which leaves room for the rest of the request and for what Lark adds.
`answer_card` trims a long answer at a paragraph or line boundary (closing an open code fence) with a
note; `answer_cards` splits it over several cards instead.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Literal

from larkdou.lark.markdown import (
    close_fences,
    escape_markdown,
    neutralize_mentions,
    split_markdown,
    to_lark_markdown,
    to_plain_text,
    trim_markdown,
)

CARD_BODY_MAX = 30 * 1024  # Lark: request body of a card (send, reply, update) at most 30 KB
CARD_BUDGET = CARD_BODY_MAX - 2 * 1024  # what a card built here may take of it (see module doc)
ENVELOPE_MAX = 512  # the rest of a send/reply request body: receive_id, msg_type, uuid, …
TITLE_MAX = 100  # characters of a header title
LABEL_MAX = 120  # characters of a source label
SOURCES_MAX = 10

Lang = Literal["zh", "en"]

TEXTS: dict[str, dict[str, str]] = {
    "zh": {"thinking": "思考中…", "writing": "生成中…", "truncated": "…（内容过长，后面的部分已省略）",
           "sources": "来源", "more": "（续）", "recall": "说“{keyword}”可撤回我在本群的回答"},
    "en": {"thinking": "Thinking…", "writing": "Writing…", "truncated": "…(truncated: the rest is too long for one card)",
           "sources": "Sources", "more": " (cont.)", "recall": "Say “{keyword}” to recall my answers in this chat"},
}


@dataclass(frozen=True)
class SourceLink:
    """A source under an answer: its label, a link when `url` is http(s), and how the answer cites it
    (`ref`, e.g. "[3]"; the sources are then listed by their refs rather than numbered 1, 2, …)."""

    label: str
    url: str = ""
    ref: str = ""


def recall_footer(keyword: str = "豆哥撤回", lang: Lang = "zh") -> str:
    """The footer that tells how to take the bot's answers back."""
    return TEXTS[lang]["recall"].format(keyword=keyword)


def card_content(card: dict[str, Any]) -> str:
    """The `content` field of an interactive message: the card as a JSON string."""
    return json.dumps(card, ensure_ascii=False, separators=(",", ":"))


def content_size(card: dict[str, Any]) -> int:
    """UTF-8 bytes the `content` value takes in a request body (quotes included)."""
    return len(json.dumps(card_content(card), ensure_ascii=False).encode("utf-8"))


# ---- the parts --------------------------------------------------------------------------------
def _header(title: str) -> dict[str, Any]:
    title = " ".join(title.split())
    if len(title) > TITLE_MAX:
        title = title[:TITLE_MAX - 1] + "…"
    return {"title": {"tag": "plain_text", "content": title}, "template": "blue"}


def _grey(text: str) -> str:
    return f"<font color='grey'>{escape_markdown(text)}</font>"


def _sources_md(sources: Iterable[SourceLink], lang: Lang) -> str:
    lines = []
    listed = list(sources)[:SOURCES_MAX]
    by_ref = bool(listed) and all(s.ref.strip() for s in listed)
    for n, src in enumerate(listed, start=1):
        label = src.label if len(src.label) <= LABEL_MAX else src.label[:LABEL_MAX - 1] + "…"
        label = escape_markdown(label) or escape_markdown(src.url)
        mark = escape_markdown(" ".join(src.ref.split())[:12]) if by_ref else f"{n}."
        url = src.url.strip()
        if url.startswith(("http://", "https://")) and not any(c in url for c in " \n<>"):
            url = url.replace("(", "%28").replace(")", "%29")
            lines.append(f"{mark} [{label}]({url})")
        else:
            lines.append(f"{mark} {label}")
    if not lines:
        return ""
    return f"**{TEXTS[lang]['sources']}**\n" + "\n".join(lines)


def _card(body_md: str, *, title: str, tail: list[dict[str, Any]]) -> dict[str, Any]:
    card: dict[str, Any] = {"schema": "2.0", "config": {"update_multi": True}}
    if title.strip():
        card["header"] = _header(title)
    elements: list[dict[str, Any]] = [{"tag": "markdown", "element_id": "answer", "content": body_md}]
    card["body"] = {"elements": elements + tail}
    return card


def _tail(*, sources: Iterable[SourceLink] = (), notes: Iterable[str] = (), lang: Lang = "zh") -> list[dict[str, Any]]:
    """The elements under the answer: divider, sources, grey notes (hint, state, footer)."""
    out: list[dict[str, Any]] = []
    sources_md = _sources_md(sources, lang)
    if sources_md:
        out.append({"tag": "markdown", "element_id": "sources", "content": sources_md, "text_size": "notation"})
    notes_md = "\n".join(_grey(n) for n in notes if n.strip())
    if notes_md:
        out.append({"tag": "markdown", "element_id": "notes", "content": notes_md, "text_size": "notation"})
    return [{"tag": "hr"}, *out] if out else []


def _room(title: str, tail: list[dict[str, Any]], budget: int) -> int:
    """Bytes left for the answer's markdown in a card with this title and tail."""
    return budget - ENVELOPE_MAX - content_size(_card("", title=title, tail=tail))


# ---- cards ------------------------------------------------------------------------------------
def thinking_card(*, title: str = "", footer: str = "", lang: Lang = "zh") -> dict[str, Any]:
    """The card sent at once when an answer is about to be written."""
    return _card(_grey(TEXTS[lang]["thinking"]), title=title, tail=_tail(notes=[footer], lang=lang))


def streaming_card(partial: str, *, title: str = "", footer: str = "", lang: Lang = "zh",
                   budget: int = CARD_BUDGET) -> dict[str, Any]:
    """The card while an answer is being written: the text so far (an open code fence closed,
    trimmed to fit) and a grey "writing…" line."""
    texts = TEXTS[lang]
    tail = _tail(notes=[texts["writing"], footer], lang=lang)
    body = to_lark_markdown(partial) if partial.strip() else _grey(texts["thinking"])
    return _card(trim_markdown(body, _room(title, tail, budget), _grey(texts["truncated"])), title=title, tail=tail)


def answer_card(markdown: str, *, title: str = "", sources: Iterable[SourceLink] = (), hint: str = "",
                footer: str = "", lang: Lang = "zh", budget: int = CARD_BUDGET) -> dict[str, Any]:
    """One card with the whole answer, or as much of it as fits (then a note says it was trimmed)."""
    _not_empty(markdown)
    tail = _tail(sources=sources, notes=[hint, footer], lang=lang)
    body = to_lark_markdown(markdown)
    return _card(trim_markdown(body, _room(title, tail, budget), _grey(TEXTS[lang]["truncated"])),
                 title=title, tail=tail)


def answer_cards(markdown: str, *, title: str = "", sources: Iterable[SourceLink] = (), hint: str = "",
                 footer: str = "", lang: Lang = "zh", budget: int = CARD_BUDGET) -> list[dict[str, Any]]:
    """The whole answer over as many cards as it needs; the sources, hint and footer go on the last,
    later cards' titles say they continue."""
    _not_empty(markdown)
    sources = list(sources)
    tail = _tail(sources=sources, notes=[hint, footer], lang=lang)
    more = title + TEXTS[lang]["more"] if title.strip() else ""
    room = min(_room(title, tail, budget), _room(more, tail, budget))
    parts = split_markdown(close_fences(to_lark_markdown(markdown)), room)
    cards = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        cards.append(_card(part, title=title if n == 0 else more, tail=tail if last else []))
    return cards


_FONT = re.compile(r"</?font[^>]*>", re.IGNORECASE)


def card_as_text(card: dict[str, Any]) -> str:
    """What a card built here says, as plain text (its title, then each markdown element): for a
    text message when Lark refuses the card."""
    title = ((card.get("header") or {}).get("title") or {}).get("content") or ""
    parts = [title] if title.strip() else []
    for element in (card.get("body") or {}).get("elements") or []:
        if element.get("tag") == "markdown" and isinstance(element.get("content"), str):
            parts.append(to_plain_text(html.unescape(_FONT.sub("", element["content"]))))
    return neutralize_mentions("\n\n".join(p.strip() for p in parts if p.strip()))


def _not_empty(markdown: str) -> None:
    if not markdown.strip():
        raise ValueError("an answer must not be empty")


def answer_text(markdown: str, *, title: str = "", sources: Iterable[SourceLink] = (), hint: str = "",
                footer: str = "", lang: Lang = "zh") -> str:
    """The same answer as plain text (`reply_format = "text"`); split it with `split_text`."""
    blocks = [to_plain_text(title).strip()] if title.strip() else []
    blocks.append(to_plain_text(markdown).strip())
    lines = []
    listed = list(sources)[:SOURCES_MAX]
    by_ref = bool(listed) and all(s.ref.strip() for s in listed)
    for n, src in enumerate(listed, start=1):
        label = " ".join(src.label.split()) or src.url
        mark = " ".join(src.ref.split()) if by_ref else f"{n}."
        lines.append(f"{mark} {label} ({src.url})" if src.url and src.url != label else f"{mark} {label}")
    if lines:
        blocks.append(f"{TEXTS[lang]['sources']}:\n" + "\n".join(lines))
    notes = [" ".join(n.split()) for n in (hint, footer) if n.strip()]
    if notes:
        blocks.append("\n".join(notes))
    return neutralize_mentions("\n\n".join(b for b in blocks if b))
