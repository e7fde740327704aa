"""Card JSON for answers: golden files of what is built, Lark's size limit at the boundary (Chinese
text and code), splitting over several cards, and the same answer as plain text.

Regenerate the golden files after an intended change with GOLDEN_WRITE=1."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from larkdou.lark.cards import (
    CARD_BUDGET,
    ENVELOPE_MAX,
    SourceLink,
    answer_card,
    answer_cards,
    answer_text,
    card_content,
    content_size,
    recall_footer,
    streaming_card,
    thinking_card,
)

GOLDEN = Path(__file__).parent / "golden"
ANSWER = """# 如何启动沙箱

运行 `larkdou sandbox`，然后打开网页：

```bash
larkdou sandbox --port 7777
```

- **端口**：默认 7777
- 详见 [沙箱文档](https://example.com/docs/sandbox.md)

<at id=all></at> 不会被提及。"""
SOURCES = [SourceLink("docs/sandbox.md › Running it", "https://example.com/docs/sandbox.md#running-it"),
           SourceLink("README.md", "")]


def golden(name: str, card: dict[str, Any]) -> None:
    path = GOLDEN / f"{name}.json"
    if os.environ.get("GOLDEN_WRITE") == "1":
        path.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    assert card == json.loads(path.read_text(encoding="utf-8")), f"{name} differs from {path}"


def request_size(card: dict[str, Any]) -> int:
    """The request body a reply with this card would have (as LarkClient encodes it)."""
    body = {"msg_type": "interactive", "content": card_content(card), "reply_in_thread": False, "uuid": "u" * 50}
    return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))


def test_answer_card_golden() -> None:
    golden("answer_card", answer_card(ANSWER, title="如何启动沙箱？", sources=SOURCES, hint="还想了解长连接？问我即可。",
                                      footer=recall_footer()))


def test_thinking_and_streaming_cards_golden() -> None:
    golden("thinking_card", thinking_card(footer=recall_footer("豆哥撤回", "en"), lang="en"))
    golden("streaming_card", streaming_card("Run:\n\n```bash\nlarkdou sand", footer=recall_footer()))


def test_every_card_is_shared_so_it_can_be_updated() -> None:
    for card in (answer_card("x"), thinking_card(), streaming_card("x"), *answer_cards("x")):
        assert card["schema"] == "2.0" and card["config"]["update_multi"] is True


def test_content_size_is_what_the_request_carries() -> None:
    card = answer_card(ANSWER, sources=SOURCES)
    envelope = request_size(card) - content_size(card)
    assert 0 < envelope < ENVELOPE_MAX


def fill(n: int) -> str:
    """An answer of about `n` characters: Chinese paragraphs and code blocks, with quotes and newlines."""
    block = "这是一段说明文字，包含“引号”和换行。\n\n```python\nprint(\"你好\", 'x')  # 注释\n```\n\n"
    return (block * (n // len(block) + 1))[:n]


def test_size_limit_at_the_boundary() -> None:
    # the longest answer that still fits whole, found by bisection
    lo, hi = 100, 40_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if "已省略" in json.dumps(answer_card(fill(mid), sources=SOURCES, footer=recall_footer()), ensure_ascii=False):
            hi = mid - 1
        else:
            lo = mid
    whole = answer_card(fill(lo), sources=SOURCES, footer=recall_footer())
    over = answer_card(fill(lo + 1), sources=SOURCES, footer=recall_footer())
    room = CARD_BUDGET - ENVELOPE_MAX
    assert room - 64 < content_size(whole) <= room  # the answer fills its room to within one step
    assert content_size(over) <= room and request_size(over) <= CARD_BUDGET
    body = over["body"]["elements"][0]["content"]
    assert body.endswith("<font color='grey'>…（内容过长，后面的部分已省略）</font>")
    assert body.count("```") % 2 == 0  # never cut inside a code block without closing it


def test_a_long_answer_splits_over_cards_and_loses_nothing() -> None:
    text = fill(100_000)
    cards = answer_cards(text, title="长回答", sources=SOURCES, footer=recall_footer())
    assert len(cards) >= 4
    assert all(request_size(c) <= CARD_BUDGET for c in cards)
    assert [c["header"]["title"]["content"] for c in cards[:2]] == ["长回答", "长回答（续）"]
    assert [len(c["body"]["elements"]) for c in cards] == [1] * (len(cards) - 1) + [4]  # sources last
    said = "".join(c["body"]["elements"][0]["content"] for c in cards)
    assert said.count("这是一段说明文字") == text.count("这是一段说明文字")


def test_plain_text_rendering() -> None:
    text = answer_text(ANSWER, title="如何启动沙箱？", sources=SOURCES, footer=recall_footer())
    assert text.startswith("如何启动沙箱？\n\n如何启动沙箱\n\n运行 `larkdou sandbox`")
    assert "- 端口：默认 7777\n- 详见 沙箱文档 (https://example.com/docs/sandbox.md)" in text
    assert "来源:\n1. docs/sandbox.md › Running it (https://example.com/docs/sandbox.md#running-it)\n2. README.md" in text
    assert "<at" not in text.replace("<\u200bat", "") and text.endswith("说“豆哥撤回”可撤回我在本群的回答")


def test_source_labels_and_urls_are_escaped() -> None:
    card = answer_card("ok", sources=[SourceLink("a [b] *c* <at id=all>", "https://x.example/a b"),
                                      SourceLink("p (q)", "https://x.example/p_(q)")])
    sources = card["body"]["elements"][2]["content"]
    assert sources == ("**来源**\n1. a &#91;b&#93; &#42;c&#42; &#60;at id=all&#62;\n"
                       "2. [p (q)](https://x.example/p_%28q%29)")


def test_sources_an_answer_cites_by_number_are_listed_by_those_numbers() -> None:
    cited = [SourceLink("01-overview.md", "https://e.x/o", ref="[1]"), SourceLink("03-recall.md", ref="[3]")]
    card = answer_card("网关收 [1]，撤回见 [3]。", sources=cited, lang="zh")
    assert card["body"]["elements"][2]["content"] == ("**来源**\n&#91;1&#93; [01-overview.md](https://e.x/o)\n"
                                                      "&#91;3&#93; 03-recall.md")
    assert "来源:\n[1] 01-overview.md (https://e.x/o)\n[3] 03-recall.md" in answer_text("网关收 [1]。", sources=cited)
    mixed = answer_card("x", sources=[cited[0], SourceLink("README.md")])  # not all cited: numbered
    assert mixed["body"]["elements"][2]["content"].endswith("1. [01-overview.md](https://e.x/o)\n2. README.md")


@pytest.mark.parametrize("build", [answer_card, answer_cards])
def test_an_empty_answer_is_refused(build: Any) -> None:
    with pytest.raises(ValueError, match="empty"):
        build("  \n")
