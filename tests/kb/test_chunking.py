"""One structure-aware chunker: heading paths as titles, code, tables and lists kept whole."""

from __future__ import annotations

from larkdou.kb.chunking import chunk_document, split_units
from larkdou.kb.document import Block, Document, Section
from larkdou.kb.md_loader import parse_markdown
from larkdou.kb.tokens import tokenize


def _section(*blocks: tuple[str, str], path: tuple[str, ...] = ("Install",)) -> Section:
    return Section(path, [Block(kind, text) for kind, text in blocks])


def test_chinese_text_splits_at_sentence_ends_within_size() -> None:
    text = "".join(f"这是第{i}句话，讲的是网关的配置。" for i in range(40))
    pieces = split_units(_section(("text", text)), size=60, overlap=0)
    assert len(pieces) > 5
    assert all(len(p) <= 60 for p in pieces)
    assert all(p.endswith("。") for p in pieces)  # never cut inside a sentence
    assert "".join(pieces) == text


def test_overlap_carries_whole_sentences_of_prose() -> None:
    sentences = [f"Sentence number {i} is here." for i in range(12)]
    pieces = split_units(_section(("text", " ".join(sentences))), size=90, overlap=30)
    for before, after in zip(pieces, pieces[1:]):
        last = before.split(". ")[-1].rstrip(".")
        assert after.startswith(last)


def test_code_tables_and_list_items_stay_whole_with_their_newlines() -> None:
    code = "```bash\npip install -r requirements.txt\n\npython3 -m huixiangdou.services.store\n```"
    table = "| Code | Meaning |\n| --- | --- |\n| 230009 | too old |"
    items = [("item", "1. 对于通用问题怎么办？\n   参照 PR，准备实体列表"), ("item", "2. 机器人太高冷怎么办？\n   - 调整 `repodir`")]
    section = _section(("text", "Install dependencies:"), ("code", code), ("table", table), *items)
    pieces = split_units(section, size=120, overlap=0)
    assert pieces == ["Install dependencies:\n\n" + code, table + "\n\n" + items[0][1] + "\n" + items[1][1]]
    assert split_units(section, size=90, overlap=0) == ["Install dependencies:", code, table + "\n\n" + items[0][1],
                                                        items[1][1]]


def test_a_code_block_longer_than_a_chunk_is_split_at_blank_lines_and_fenced_again() -> None:
    code = "```python\n" + "\n\n".join(f"def f{i}():\n    return {i}" for i in range(20)) + "\n```"
    pieces = split_units(_section(("code", code)), size=120, overlap=0)
    assert len(pieces) > 3 and all(len(p) <= 120 for p in pieces)
    assert all(p.startswith("```python\n") and p.endswith("\n```") for p in pieces)
    assert "def f7():\n    return 7" in "".join(pieces)


def test_a_long_table_repeats_its_header() -> None:
    rows = "\n".join(f"| 2300{i:02d} | meaning {i} |" for i in range(30))
    pieces = split_units(_section(("table", "| Code | Meaning |\n| --- | --- |\n" + rows)), size=150, overlap=0)
    assert len(pieces) > 3 and all(p.startswith("| Code | Meaning |\n| --- | --- |\n| 2300") for p in pieces)


def test_overlong_sentence_is_hard_split() -> None:
    pieces = split_units(_section(("text", "长" * 250)), size=100, overlap=0)
    assert [len(p) for p in pieces] == [100, 100, 50]


def test_chunks_carry_the_heading_path_title_and_anchor() -> None:
    doc = parse_markdown("# Install\n\n## From source\n\n### GPU\n\nRun `make gpu`.\n")
    [chunk] = chunk_document("docs/install.md", doc, 600, 0)
    assert chunk.heading == "Install › From source › GPU"
    assert chunk.citation == "docs/install.md › Install › From source › GPU"
    assert (chunk.title, chunk.anchor, chunk.text) == ("Install", "gpu", "Run `make gpu`.")
    assert chunk.index_text().startswith("Install › From source › GPU\n")


def test_ids_are_content_hashes() -> None:
    doc = Document([_section(("text", "第一句。第二句。"), path=("配置",))])
    first = chunk_document("a.md", doc, 600, 0)
    assert first[0].id == chunk_document("a.md", doc, 600, 0)[0].id
    other = Document([_section(("text", "第一句。第三句。"), path=("配置",))])
    assert first[0].id != chunk_document("a.md", other, 600, 0)[0].id
    assert first[0].id != chunk_document("b.md", doc, 600, 0)[0].id


def test_tokens_for_chinese_english_and_identifiers() -> None:
    tokens = tokenize("加密 key 怎么配置？Set encrypt_key and fetchToken; recalling edited messages")
    assert {"加密", "key", "配置", "encrypt_key", "encrypt", "fetchtoken", "fetch", "token", "set"} <= set(tokens)
    assert {"recal", "edit", "messag"} <= set(tokens)  # English words are stemmed
    assert "怎么" not in tokens and "and" not in tokens and "？" not in tokens


def test_an_acronyms_plural_is_the_acronym() -> None:
    assert tokenize("Which LLMs are supported, on how many GPUs?") == tokenize("Which LLM is supported, on how many GPU?")
    assert "ms" not in tokenize("LLMs")  # not split like camel case into "ll" and "ms"


def test_a_follow_ups_demonstrative_is_not_part_of_the_word() -> None:
    # jieba joins "那" and an unknown word into a new word; the follow-up is about the word
    assert tokenize("那沙盒呢？") == tokenize("沙盒") == ["沙盒"]
    assert tokenize("这沙盒怎么配") == ["沙盒", "配"]
    assert "那天" in tokenize("那天的消息")  # a dictionary word stays whole
