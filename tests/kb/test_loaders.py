"""Each document format is read into titled sections by its own parser."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from larkdou.errors import KnowledgeBaseError
from larkdou.kb.loaders import load_file


def _pdf(path: Path, lines: list[str]) -> Path:
    """A minimal one-page PDF with these lines of text (Helvetica)."""
    text = "".join(f"BT /F1 12 Tf 72 {720 - 20 * i} Td ({line}) Tj ET\n" for i, line in enumerate(lines))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(text)} >>\nstream\n{text}endstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(out)
    return path


def _all_text(document) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(f"{s.heading}\n{s.text}" for s in document.sections)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_sections_carry_their_heading_path_and_keep_code(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "a.md", "intro line\n\n# 配置\n\n设置 **encrypt_key**。\n\n"
                                               "```toml\nencrypt_key = \"abc\"\n\nport = 1\n```\n\n"
                                               "## Recall\n\nSay `豆哥撤回`.\n\n# FAQ\n\nAsk.\n"))
    assert [s.heading for s in doc.sections] == ["", "配置", "配置 › Recall", "FAQ"]
    assert doc.title == "配置"
    code = doc.sections[1].blocks[1]
    assert (code.kind, code.text) == ("code", '```toml\nencrypt_key = "abc"\n\nport = 1\n```')
    assert doc.sections[1].blocks[0].text == "设置 encrypt_key。"
    assert doc.sections[2].text == "Say `豆哥撤回`."
    assert doc.sections[2].anchor == "recall"


def test_markdown_drops_html_badges_and_image_placeholders_but_keeps_link_text(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "README.md", """# 🔥 Tool

<div align="center">
<img src="resource/logo.svg" width="555px"/>
  <a href="https://x.y"><img alt="Wechat" src="https://img.shields.io/badge/wechat-robot-green" /></a>
</div>

<!-- a comment that says nothing -->

See the [install guide](./docs/install.md) and ![image](https://x.y/a.png) the
![architecture of the gateway and the assistant](arch.png) figure.

确保 redis 在后台已经活跃
![image](https://github.com/x/assets/1)
"""))
    text = _all_text(doc)
    assert doc.sections[0].path == ("Tool",)  # emoji dropped from the heading path
    for junk in ("<", "img", "shields", "Wechat", "comment", "image", "https://", "logo"):
        assert junk not in text, junk
    assert "See the install guide and the architecture of the gateway and the assistant figure." in text
    assert "确保 redis 在后台已经活跃" in text


def test_markdown_tables_and_lists_keep_their_lines(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "a.md", """# Limits

| Code | Meaning |
|---|---|
| 230009 | too old |
| 230026 | not the bot's own |

1. First step
   ```bash
   make setup
   ```
2. Second step
   - a detail
"""))
    kinds = [(b.kind, b.text) for b in doc.sections[0].blocks]
    assert kinds[0] == ("table", "| Code | Meaning |\n| --- | --- |\n| 230009 | too old |\n| 230026 | not the bot's own |")
    assert kinds[1] == ("item", "1. First step\n\n   ```bash\n   make setup\n   ```")
    assert kinds[2] == ("item", "2. Second step\n   - a detail")


def test_a_layout_tables_cells_are_labelled_with_their_column_header(tmp_path: Path) -> None:
    # READMEs lay out "what is supported" as an HTML table whose cells hold Markdown lists
    doc = load_file(_write(tmp_path, "README.md", """# Support

<table>
  <tr>
    <td><b>LLM</b></td>
    <td><b>File Format</b></td>
  </tr>
  <tr valign="top">
    <td>

- DeepSeek
- KIMI

</td>
<td>

- pdf
- word

</td>
</tr>
</table>

After the table.
"""))
    blocks = [(b.kind, b.text) for b in doc.sections[0].blocks]
    assert blocks[1:] == [("text", "LLM:"), ("item", "- DeepSeek"), ("item", "- KIMI"),
                          ("text", "File Format:"), ("item", "- pdf"), ("item", "- word"),
                          ("text", "After the table.")]


def test_rst_sections_without_parser_errors(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "index.rst", """Guide
=====

Top text with a :ref:`link <target>` and :func:`~pkg.mod.fetch`.

Gateway
----

The gateway listens on 6666.

.. toctree::
   :maxdepth: 1

   install.md

.. unknown-directive:: x

.. code-block:: bash

   larkdou gateway
"""))
    assert [s.heading for s in doc.sections] == ["Guide", "Guide › Gateway"]
    text = _all_text(doc)
    assert "Top text with a link and `fetch`." in text
    assert "```bash\nlarkdou gateway\n```" in text
    for junk in ("toctree", "install.md", "Unknown directive", "unknown-directive", "maxdepth", "Title underline"):
        assert junk not in text, junk
    assert any("Title underline too short" in w for w in doc.warnings)
    assert any('Unknown directive type "unknown-directive"' in w for w in doc.warnings)
    assert all(w.startswith("line ") for w in doc.warnings)


def test_html_drops_scripts_and_splits_on_headings(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "a.html", "<html><head><script>var secret = 1;</script><style>p{}</style></head>"
                                                "<body><h1>撤回</h1><p>发送 豆哥撤回 即可。</p><h2>Fetch</h2>"
                                                "<ul><li>POST /fetch</li></ul><pre>curl -X POST\n  /fetch</pre></body></html>"))
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("撤回", "发送 豆哥撤回 即可。"), ("撤回 › Fetch", "- POST /fetch\n\n```\ncurl -X POST\n  /fetch\n```")]
    assert "secret" not in _all_text(doc)


def test_pdf_pages(tmp_path: Path) -> None:
    doc = load_file(_pdf(tmp_path / "a.pdf", ["Set the encrypt key in config.ini", "under frontend.lark_group"]))
    assert doc.sections[0].heading == "p. 1"
    assert "encrypt key" in doc.sections[0].text and "frontend.lark_group" in doc.sections[0].text


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("部署", level=1)
    d.add_paragraph("网关放在公网机器上。")
    table = d.add_table(rows=2, cols=2)
    for r, (a, b) in enumerate([("key", "value"), ("port", "6666")]):
        table.rows[r].cells[0].text = a
        table.rows[r].cells[1].text = b
    d.save(str(tmp_path / "a.docx"))
    doc = load_file(tmp_path / "a.docx")
    assert doc.sections[-1].heading == "部署"
    assert "网关放在公网机器上。" in doc.sections[-1].text and "| port | 6666 |" in doc.sections[-1].text


def test_source_files_are_one_code_block(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def fetch_token():\n    return 'x'\n", encoding="utf-8")
    block = load_file(tmp_path / "a.py").sections[0].blocks[0]
    assert (block.kind, block.text) == ("code", "```py\ndef fetch_token():\n    return 'x'\n```")


def test_broken_or_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"not a pdf at all")
    with pytest.raises(KnowledgeBaseError, match="broken.pdf: cannot read"):
        load_file(tmp_path / "broken.pdf")
    (tmp_path / "logo.bin").write_bytes(b"\x89PNG\x00\x00")
    with pytest.raises(KnowledgeBaseError, match="binary"):
        load_file(tmp_path / "logo.bin")
