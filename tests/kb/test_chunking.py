"""Chinese-aware chunking with content-hash ids."""

from __future__ import annotations

from larkdou.kb.chunking import chunk_sections, split_section
from larkdou.kb.loaders import Section
from larkdou.kb.tokens import tokenize


def test_chinese_text_splits_at_sentence_ends_within_size() -> None:
    text = "".join(f"这是第{i}句话，讲的是网关的配置。" for i in range(40))
    pieces = split_section(text, size=60, overlap=0)
    assert len(pieces) > 5
    assert all(len(p) <= 60 for p in pieces)
    assert all(p.endswith("。") for p in pieces)  # never cut inside a sentence
    assert "".join(pieces) == text


def test_overlap_carries_whole_sentences() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(12)]
    pieces = split_section(" ".join(sentences), size=90, overlap=30)
    for before, after in zip(pieces, pieces[1:]):
        last = before.split(". ")[-1].rstrip(".")
        assert after.startswith(last)


def test_overlong_sentence_is_hard_split() -> None:
    pieces = split_section("长" * 250, size=100, overlap=0)
    assert [len(p) for p in pieces] == [100, 100, 50]


def test_code_splits_on_blank_lines() -> None:
    code = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    assert split_section(code, size=25, overlap=0, code=True) == ["def a():\n    return 1", "def b():\n    return 2"]


def test_ids_are_content_hashes() -> None:
    s = [Section("配置", "第一句。第二句。")]
    first = chunk_sections("a.md", s, 600, 0)
    assert first[0].id == chunk_sections("a.md", s, 600, 0)[0].id
    assert first[0].id != chunk_sections("a.md", [Section("配置", "第一句。第三句。")], 600, 0)[0].id
    assert first[0].id != chunk_sections("b.md", s, 600, 0)[0].id
    assert first[0].citation == "a.md › 配置"


def test_tokens_for_chinese_english_and_identifiers() -> None:
    tokens = tokenize("加密 key 怎么配置？Set encrypt_key and fetchToken")
    assert {"加密", "key", "配置", "encrypt_key", "encrypt", "fetchtoken", "fetch", "token", "set"} <= set(tokens)
    assert "怎么" not in tokens and "and" not in tokens and "？" not in tokens
