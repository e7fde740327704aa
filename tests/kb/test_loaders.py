"""Each document format is read into titled sections by its own parser."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from larkdou.errors import KnowledgeBaseError
from larkdou.kb.loaders import iter_documents, load_file


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


def _all_text(sections) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(f"{s.heading}\n{s.text}" for s in sections)


def test_markdown_sections_follow_headings_and_keep_code(tmp_path: Path) -> None:
    p = tmp_path / "a.md"
    p.write_text("intro line\n\n# 配置\n\n设置 **encrypt_key**。\n\n```toml\nencrypt_key = \"abc\"\n```\n\n"
                 "## Recall\n\nSay `豆哥撤回`.\n", encoding="utf-8")
    sections = load_file(p)
    assert [s.heading for s in sections] == ["", "配置", "Recall"]
    assert "设置 encrypt_key。" in sections[1].text and 'encrypt_key = "abc"' in sections[1].text
    assert sections[2].text == "Say 豆哥撤回."


def test_rst_sections(tmp_path: Path) -> None:
    p = tmp_path / "a.rst"
    p.write_text("Guide\n=====\n\nTop text.\n\nGateway\n-------\n\nThe gateway listens on 6666.\n", encoding="utf-8")
    sections = load_file(p)
    assert ("Gateway", "The gateway listens on 6666.") in [(s.heading, s.text) for s in sections]
    assert "Top text." in _all_text(sections)


def test_html_drops_scripts_and_splits_on_headings(tmp_path: Path) -> None:
    p = tmp_path / "a.html"
    p.write_text("<html><head><script>var secret = 1;</script><style>p{}</style></head><body>"
                 "<h1>撤回</h1><p>发送 豆哥撤回 即可。</p><h2>Fetch</h2><ul><li>POST /fetch</li></ul></body></html>",
                 encoding="utf-8")
    sections = load_file(p)
    assert [(s.heading, s.text) for s in sections if s.heading] == [("撤回", "发送 豆哥撤回 即可。"), ("Fetch", "POST /fetch")]
    assert "secret" not in _all_text(sections)


def test_pdf_pages(tmp_path: Path) -> None:
    sections = load_file(_pdf(tmp_path / "a.pdf", ["Set the encrypt key in config.ini", "under frontend.lark_group"]))
    assert sections[0].heading == "p. 1"
    assert "encrypt key" in sections[0].text and "frontend.lark_group" in sections[0].text


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("部署", level=1)
    d.add_paragraph("网关放在公网机器上。")
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "port"
    table.rows[0].cells[1].text = "6666"
    d.save(str(tmp_path / "a.docx"))
    sections = load_file(tmp_path / "a.docx")
    assert sections[-1].heading == "部署"
    assert "网关放在公网机器上。" in sections[-1].text and "port | 6666" in sections[-1].text


def test_source_and_text_files_are_read_verbatim(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def fetch_token():\n    return 'x'\n", encoding="utf-8")
    assert load_file(tmp_path / "a.py")[0].text.startswith("def fetch_token():")


def test_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"not a pdf at all")
    with pytest.raises(KnowledgeBaseError, match="broken.pdf: cannot read"):
        load_file(tmp_path / "broken.pdf")


def test_iter_documents_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    for name in ("a.md", "b/c.txt", ".git/x.md", "d/.hidden.md", "e.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert [p.relative_to(tmp_path).as_posix() for p in iter_documents(tmp_path)] == ["a.md", "b/c.txt"]
    with pytest.raises(KnowledgeBaseError, match="not found"):
        list(iter_documents(tmp_path / "missing"))
