"""Per-group settings: `[[groups]]` tables matched by chat_id; the top-level settings for the rest.

```toml
[[groups]]
chat_id = "oc_ops"              # the group's chat_id; "*" sets the defaults of every other chat
mode = "mention"                # "auto" (the answer decision) | "mention" (only when addressed) | "off"
kb = "ops"                      # knowledge base name (`larkdou kb build --name ops`)
recall_keywords = ["撤回"]      # default: [frontend.lark_group] recall_keywords
recall_allow = ["ou_lead"]      # default: [frontend.lark_group] recall_allow
```

A key left out of a group's table comes from the `"*"` table when there is one, else from the
top-level settings (mode "auto", kb "default"). `chat_settings` gives the effective settings of a
chat; `check_groups` validates the tables with errors that name the entry and the key.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from larkdou.errors import ConfigError

if TYPE_CHECKING:
    from larkdou.config import Settings

MODES = ("auto", "mention", "off")
DEFAULT_MODE = "auto"
DEFAULT_KB = "default"
ANY_CHAT = "*"
KB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
KB_NAME_RULE = "a simple name: letters, digits, '_' and '-', starting with a letter or digit, at most 64 characters"


def check_kb_name(name: str) -> str:
    """`name` when it is a valid knowledge base name; ValueError saying the rule otherwise."""
    if not isinstance(name, str) or not KB_NAME.match(name):
        raise ValueError(f"must be {KB_NAME_RULE}")
    return name


class GroupConfig(BaseModel):
    """One `[[groups]]` table. None: not set here (inherited)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    chat_id: str
    mode: Literal["auto", "mention", "off"] | None = None
    kb: str | None = None
    recall_keywords: list[str] | None = None
    recall_allow: list[str] | None = None

    @field_validator("chat_id")
    @classmethod
    def _chat_id(cls, v: str) -> str:
        v = v.strip()
        if v != ANY_CHAT and not (v.startswith("oc_") and len(v) > 3 and not any(c.isspace() for c in v)):
            raise ValueError('must be a chat id ("oc_…") or "*" for every other chat')
        return v

    @field_validator("kb")
    @classmethod
    def _kb(cls, v: str | None) -> str | None:
        return None if v is None else check_kb_name(v)

    @field_validator("recall_keywords")
    @classmethod
    def _keywords(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        v = [k.strip() for k in v if k.strip()]
        if not v:
            raise ValueError("needs at least one non-empty keyword")
        return v


@dataclass(frozen=True)
class ChatSettings:
    """The effective settings of one chat."""

    chat_id: str
    mode: str  # one of MODES
    kb: str
    recall_keywords: tuple[str, ...]
    recall_allow: tuple[str, ...]  # empty: anyone in the chat may recall
    configured: bool  # a [[groups]] table names this chat

    def answers(self, addressed: bool) -> bool:
        """Whether a message may get an answer here: any ("auto"), addressed ones ("mention"), none."""
        return self.mode == "auto" or (self.mode == "mention" and addressed)

    def may_recall(self, open_id: str) -> bool:
        return not self.recall_allow or open_id in self.recall_allow


def chat_settings(settings: "Settings", chat_id: str) -> ChatSettings:
    """The settings that apply in `chat_id`: its `[[groups]]` table, then `"*"`, then the top level."""
    own = fallback = None
    for group in settings.groups:
        if group.chat_id == chat_id:
            own = group
        elif group.chat_id == ANY_CHAT:
            fallback = group

    def pick(key: str, default: Any) -> Any:
        for table in (own, fallback):
            value = getattr(table, key) if table is not None else None
            if value is not None:
                return value
        return default

    top = settings.lark_group
    return ChatSettings(chat_id=chat_id, mode=pick("mode", DEFAULT_MODE), kb=pick("kb", DEFAULT_KB),
                        recall_keywords=tuple(pick("recall_keywords", top.recall_keywords)),
                        recall_allow=tuple(pick("recall_allow", top.recall_allow)), configured=own is not None)


def kbs_in_use(settings: "Settings") -> dict[str, list[str]]:
    """The knowledge bases the chats use: name → the chat_ids whose settings name it ("*": every chat
    without its own table), in config order."""
    used: dict[str, list[str]] = {}
    for chat_id in [g.chat_id for g in settings.groups if g.chat_id != ANY_CHAT] + [ANY_CHAT]:
        kb = chat_settings(settings, "" if chat_id == ANY_CHAT else chat_id).kb
        used.setdefault(kb, []).append(chat_id)
    return used


# ---- validation with clear messages -----------------------------------------------------------------

_EXPECTED = {"string_type": "a string", "list_type": "a list of strings",
             "literal_error": ", ".join(f'"{m}"' for m in MODES[:-1]) + f' or "{MODES[-1]}"'}


def _entry_error(source: str, n: int, chat_id: Any, err: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in err["loc"][:1]) or "?"
    where = f"{source}: [[groups]] entry {n}" + (f" (chat_id = {chat_id!r})" if isinstance(chat_id, str) else "")
    kind = err["type"]
    if kind == "missing":
        return f"{where}: {key} is required"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(key, list(GroupConfig.model_fields), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(GroupConfig.model_fields)
        return f"{where}: unknown key '{key}' ({hint})"
    if kind in _EXPECTED:
        return f"{where}: {key}: expected {_EXPECTED[kind]}, got {err.get('input')!r}"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {key}: {msg} (got {err.get('input')!r})"


def check_groups(raw: Any, source: str) -> list[GroupConfig]:
    """Validate the `[[groups]]` tables of a parsed config; ConfigError naming the entry and the key."""
    if raw is None:
        return []
    if isinstance(raw, dict):
        raise ConfigError(f"{source}: groups must be written [[groups]] (one table per group, double brackets)")
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: groups: expected [[groups]] tables, got {raw!r}")
    groups: list[GroupConfig] = []
    errors: list[str] = []
    first: dict[str, int] = {}
    for n, table in enumerate(raw, 1):
        if not isinstance(table, dict):
            errors.append(f"{source}: [[groups]] entry {n}: expected a table, got {table!r}")
            continue
        chat_id = table.get("chat_id")
        if isinstance(chat_id, str) and chat_id.strip() in first:
            errors.append(f"{source}: [[groups]] entry {n}: chat_id {chat_id!r} is already used by "
                          f"entry {first[chat_id.strip()]}")
            continue
        if isinstance(chat_id, str):
            first[chat_id.strip()] = n
        try:
            groups.append(GroupConfig.model_validate(table))
        except ValidationError as exc:
            errors.extend(_entry_error(source, n, chat_id, e) for e in exc.errors())
    if errors:
        raise ConfigError("\n".join(errors))
    return groups


def describe_groups(groups: list[GroupConfig]) -> list[str]:
    """Lines for `config check`: each table with the keys it sets."""
    lines = []
    for group in groups:
        lines.append("[[groups]]")
        for key, value in group.model_dump(exclude_none=True).items():
            lines.append(f"  {key} = {value!r}")
    return lines
