"""The earlier exchange of a follow-up, as LLM turns."""

from __future__ import annotations

from larkdou.answer.history import history_chars, history_messages
from larkdou.store.context import ContextEntry


def entry(n: int, role: str, text: str) -> ContextEntry:
    return ContextEntry(f"om_{n}", "oc_1", role, text, at_ms=n)


def test_turns_keep_their_order_and_roles() -> None:
    entries = [entry(1, "user", "Redis 怎么配置？"), entry(2, "bot", "写 store = \"redis://…\" [1]"),
               entry(3, "user", "  "), entry(4, "user", "那 SQLite 呢？")]
    assert history_messages(entries) == [
        {"role": "user", "content": "Redis 怎么配置？"}, {"role": "assistant", "content": "写 store = \"redis://…\" [1]"},
        {"role": "user", "content": "那 SQLite 呢？"}]


def test_the_budget_keeps_the_nearest_turns() -> None:
    entries = [entry(1, "user", "a" * 50), entry(2, "bot", "b" * 50), entry(3, "user", "c" * 50)]
    turns = history_messages(entries, max_chars=120)
    assert [t["content"][0] for t in turns] == ["b", "c"] and history_chars(turns) == 100
    only = history_messages([entry(1, "bot", "x" * 500)], max_chars=100)
    assert len(only) == 1 and len(only[0]["content"]) == 100 and only[0]["content"].endswith("…")
    assert history_messages([]) == []
