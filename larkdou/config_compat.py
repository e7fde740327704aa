"""The parts of a HuixiangDou `config.ini` that larkdou has no use for.

The guide's users arrive with HuixiangDou's whole config file. Its other tables (`[feature_store]`,
`[web_search]`, `[worker]`, the WeChat front ends, …) and its extra keys in the tables larkdou shares
(`[llm] client_url`, `[frontend] message_process_policy`, every other key of `[llm.server]`, such
as `tpm`) are accepted and listed once as ignored: a warning, not an error. A typo in one of
larkdou's own keys is still an error with a suggestion.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable

# whole tables (and the tables inside them) from HuixiangDou's config files
FOREIGN_TABLES = frozenset({
    "feature_store", "web_search", "coreference_resolution", "worker", "sg_search",
    "frontend.wechat_personal", "frontend.wechat_wkteam", "frontend.lark",
})
# HuixiangDou's keys in tables larkdou shares with it
FOREIGN_KEYS: dict[str, frozenset[str]] = {
    "llm": frozenset({"client_url"}),
    "frontend": frozenset({"message_process_policy"}),
}
# every unknown key here is HuixiangDou's (its LLM server's settings), unless it is a near miss of
# a key larkdou reads there
LENIENT_TABLES = frozenset({"llm.server"})
NEAR_MISS = 0.85


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def is_foreign(where: str, key: str, known: Iterable[str]) -> bool:
    """True when `key` in table `where` belongs to HuixiangDou rather than being a mistake."""
    path = join(where, key)
    if path in FOREIGN_TABLES or key in FOREIGN_KEYS.get(where, ()):
        return True
    return where in LENIENT_TABLES and not difflib.get_close_matches(key, list(known), n=1, cutoff=NEAR_MISS)


def describe(where: str, key: str, value: Any) -> str:
    """How an ignored table or key is listed: `[web_search]`, `[sg_search] (and 9 tables in it)`,
    `[llm.server] tpm`."""
    path = join(where, key)
    if isinstance(value, dict):
        inner = sum(1 for v in value.values() if isinstance(v, dict))
        return f"[{path}]" + (f" (and {inner} table{'s' if inner > 1 else ''} in it)" if inner else "")
    return f"[{where}] {key}" if where else key


def ignored_note(source: str, items: list[str]) -> str:
    """The one line that lists everything ignored."""
    return f"{source}: ignored, HuixiangDou settings larkdou does not use: {', '.join(items)}"
