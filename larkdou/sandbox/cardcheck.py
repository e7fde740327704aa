"""Card JSON as the sandbox checks it, the way Lark's Open API refuses it: code 230099 ("Failed to
create card content") with the sub-code in the message, e.g. 200621 "parse card json err".

What is checked (docs/lark-cards.md): JSON 2.0 cards (`"schema": "2.0"`) allow only the documented
top-level keys and need `body.elements`; JSON 1.0 cards have `elements` (or `i18n_elements`) at the
top. Every element needs a string `tag`; a `markdown` element a string `content`; an `element_id`
is a letter then up to 19 letters, digits or underscores, unique in the card. In 2.0 `update_multi`
can only be true. Cards referenced by id (`{"type": "card"|"template", …}`, CardKit and the card
builder) do not exist in the sandbox and are refused.
"""

from __future__ import annotations

import re
from typing import Any

CARD_ERROR = 230099
PARSE_ERROR = "Failed to create card content, ext=ErrCode: 200621; ErrMsg: parse card json err"
V2_ERROR = "Failed to create card content, ext=ErrCode: 200861; ErrMsg: cards of schema V2 no longer support this capability"
V2_KEYS = {"schema", "config", "card_link", "header", "body"}
ELEMENT_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")
CHILD_KEYS = ("elements", "columns", "actions", "fields")


class CardError(ValueError):
    """A card Lark would not build; `msg` is Lark's message (with a sandbox detail after it)."""

    def __init__(self, msg: str, detail: str):
        super().__init__(f"{msg} ({detail})")
        self.code = CARD_ERROR
        self.msg = f"{msg} ({detail})"


def check_card(card: dict[str, Any]) -> None:
    """Raise `CardError` for a card Lark would refuse."""
    if card.get("type") in ("card", "template"):
        raise CardError(PARSE_ERROR, "cards sent by card_id or template_id do not exist in the sandbox")
    schema = card.get("schema", "1.0")
    if schema not in ("1.0", "2.0"):
        raise CardError(PARSE_ERROR, f"unknown schema {schema!r}")
    config = card.get("config", {})
    if not isinstance(config, dict):
        raise CardError(PARSE_ERROR, "config must be an object")
    if "update_multi" in config and not isinstance(config["update_multi"], bool):
        raise CardError(PARSE_ERROR, "config.update_multi must be true or false")
    _check_header(card.get("header"))
    if schema == "2.0":
        unknown = sorted(set(card) - V2_KEYS)
        if unknown:
            raise CardError(PARSE_ERROR, f"unknown property {unknown[0]!r}")
        if config.get("update_multi") is False:
            raise CardError(V2_ERROR, "JSON 2.0 cards are shared cards: update_multi can only be true")
        body = card.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("elements"), list):
            raise CardError(PARSE_ERROR, "a JSON 2.0 card needs body.elements (a list)")
        elements = body["elements"]
    else:
        elements = card.get("elements", [])
        if not isinstance(elements, list):
            raise CardError(PARSE_ERROR, "elements must be a list")
    _check_elements(elements, set())


def update_multi(card: dict[str, Any]) -> bool:
    """Is this a shared card (updates shown to everyone)? Default: false in 1.0, true in 2.0."""
    config = card.get("config") if isinstance(card.get("config"), dict) else {}
    value = config.get("update_multi")  # type: ignore[union-attr]
    return value if isinstance(value, bool) else card.get("schema") == "2.0"


def _check_header(header: object) -> None:
    if header is None:
        return
    if not isinstance(header, dict):
        raise CardError(PARSE_ERROR, "header must be an object")
    title = header.get("title")
    if title is not None and (not isinstance(title, dict) or not isinstance(title.get("content"), str)
                              or title.get("tag") not in ("plain_text", "lark_md")):
        raise CardError(PARSE_ERROR, "header.title must be {tag: plain_text|lark_md, content: string}")


def _check_elements(elements: list[Any], ids: set[str]) -> None:
    for element in elements:
        if not isinstance(element, dict) or not isinstance(element.get("tag"), str) or not element["tag"]:
            raise CardError(PARSE_ERROR, "every element needs a string tag")
        if element["tag"] == "markdown" and not isinstance(element.get("content"), str):
            raise CardError(PARSE_ERROR, "a markdown element needs a string content")
        element_id = element.get("element_id")
        if element_id is not None:
            if not isinstance(element_id, str) or not ELEMENT_ID.match(element_id):
                raise CardError(PARSE_ERROR, f"bad element_id {element_id!r}")
            if element_id in ids:
                raise CardError(PARSE_ERROR, f"element_id {element_id!r} is used twice")
            ids.add(element_id)
        for key in CHILD_KEYS:
            children = element.get(key)
            if isinstance(children, list):
                _check_elements([c for c in children if isinstance(c, dict) and "tag" in c], ids)
