"""LLM markdown made safe for Lark cards and for plain text, and split without breaking code fences."""

from __future__ import annotations

import pytest

from larkdou.lark.markdown import (
    close_fences,
    escape_markdown,
    split_markdown,
    to_lark_markdown,
    to_plain_text,
    trim_markdown,
)
from larkdou.lark.text import encoded_size


def test_code_is_never_changed_and_html_outside_it_is_escaped() -> None:
    src = ("Use `<br>` and `a < b` here <at id=all></at> <div>x</div> \\<at id=all>\n\n"
           "```html\n<at id=all></at> <b>kept</b>\n```\n\n    <indented> code\n")
    out = to_lark_markdown(src)
    assert "`<br>`" in out and "`a < b`" in out
    assert "```html\n<at id=all></at> <b>kept</b>\n```" in out and "    <indented> code" in out
    prose = out.split("```")[0]
    assert "<at" not in prose and "<div" not in prose
    assert prose.count("&#60;at id=all>") == 2 and "&#60;div>x&#60;/div>" in prose


def test_links_images_and_autolinks() -> None:
    out = to_lark_markdown("[ok](https://a.example/x_(y)) [js](javascript:alert(1)) [rel](./doc.md) "
                           "![pic](https://img.example/p.png) ![local](img/p.png) <https://b.example> a<br>b")
    assert out == ("[ok](https://a.example/x_(y)) js rel [pic](https://img.example/p.png) local "
                   "[https://b.example](https://b.example) a<br>b")


def test_headings_are_demoted_and_surplus_tables_become_code() -> None:
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n"
    src = "# Big\n\n## Smaller\n\nSetext\n===\n\n" + "\n".join([table] * 5)
    out = to_lark_markdown(src)
    assert out.startswith("#### Big\n\n##### Smaller\n\n#### Setext\n")
    assert out.count("```") == 2  # the fifth table only
    assert out.rstrip().endswith("| 1 | 2 |\n```")


def test_plain_text_drops_markers_keeps_code_and_disarms_mentions() -> None:
    src = "## Title\n**bold** *it* ~~old~~ [doc](https://d.example) `**raw**` <at user_id=\"all\">all</at>\n```\n**x**\n```"
    out = to_plain_text(src)
    assert out.split("\n")[:2] == ["Title", "bold it old doc (https://d.example) `**raw**` <\u200bat user_id=\"all\">all<\u200b/at>"]
    assert out.endswith("```\n**x**\n```")


def test_escape_markdown_makes_syntax_literal() -> None:
    assert escape_markdown("a_b *c* [d] <at> #1\n`e`") == "a&#95;b &#42;c&#42; &#91;d&#93; &#60;at&#62; &#35;1 &#96;e&#96;"


def test_close_fences() -> None:
    assert close_fences("x\n~~~~py\ncode") == "x\n~~~~py\ncode\n~~~~"
    assert close_fences("x\n```\ncode\n```") == "x\n```\ncode\n```"


CODE = "```python\n" + "\n".join(f"print('第{i}行 <tag>')" for i in range(200)) + "\n```"


@pytest.mark.parametrize("limit", [120, 300, 1000])
def test_split_keeps_every_part_within_the_limit_and_fences_balanced(limit: int) -> None:
    text = "介绍：\n\n" + CODE + "\n\n" + "中文段落。" * 300 + "\n\n" + "x" * 3000
    parts = split_markdown(text, limit)
    assert len(parts) > 1
    assert all(encoded_size(p) <= limit for p in parts)
    for part in parts:  # a cut inside the code closes it and opens it again in the next part
        assert part.count("```") % 2 == 0
    code_lines = [line for p in parts for line in p.split("\n") if line.startswith("print(")]
    assert code_lines == CODE.split("\n")[1:-1]  # nothing lost, nothing doubled


def test_split_prefers_paragraph_boundaries() -> None:
    paragraphs = [f"第{i}段：" + "内容" * 20 for i in range(12)]
    parts = split_markdown("\n\n".join(paragraphs), 600)
    assert all(p.startswith("第") for p in parts)  # every part begins with a paragraph
    assert "\n\n".join(parts) == "\n\n".join(paragraphs)


def test_trim_adds_the_note_only_when_needed() -> None:
    assert trim_markdown("short", 100, "…") == "short"
    trimmed = trim_markdown("段落。\n\n" * 200, 300, "…（已截断）")
    assert trimmed.endswith("\n\n…（已截断）") and encoded_size(trimmed) <= 300
