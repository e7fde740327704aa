"""Building, rebuilding incrementally, and surviving an interrupted build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from larkdou.errors import KnowledgeBaseError
from larkdou.kb import build_kb, open_kb
from tests.kb.helpers import settings_for, write_docs

DOCS = {
    "setup.md": "# 安装\n\n运行 make setup 安装依赖。\n\n# Redis\n\nThe queue store can be redis://127.0.0.1:6379/0.\n",
    "recall.md": "# 撤回\n\n发送豆哥撤回，机器人撤回它在群里发的消息。\n",
    "notes.txt": "The gateway listens on port 6666 and answers the challenge.\n",
}


def _sources(settings, question: str) -> list[str]:  # type: ignore[no-untyped-def]
    kb = open_kb(settings, required=True)
    return [h.chunk.source for h in kb.search(question)]


def test_build_indexes_every_supported_file(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    settings = settings_for(tmp_path / "work")
    report = build_kb(settings, docs, progress=False)
    assert (report.files, report.files_reused, report.skipped) == (3, 0, [])
    assert report.chunks == report.chunks_new > 0
    assert _sources(settings, "怎么撤回消息")[0] == "recall.md"
    assert _sources(settings, "which port does the gateway listen on?")[0] == "notes.txt"
    assert report.index_dir == settings.kb_dir / "index"


def test_rebuild_only_processes_what_changed(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    settings = settings_for(tmp_path / "work")
    first = build_kb(settings, docs, progress=False)
    again = build_kb(settings, docs, progress=False)
    assert (again.files_reused, again.chunks_new, again.chunks) == (3, 0, first.chunks)

    (docs / "notes.txt").write_text("The gateway listens on port 7000 now.\n", encoding="utf-8")
    (docs / "recall.md").unlink()
    write_docs(docs, {"faq.md": "# FAQ\n\n签名校验失败说明 encrypt_key 不一致。\n"})
    changed = build_kb(settings, docs, progress=False)
    assert (changed.files, changed.files_reused, changed.chunks_new) == (3, 1, 2)
    assert "recall.md" not in _sources(settings, "豆哥撤回")
    kb = open_kb(settings)
    assert "7000" in kb.search("gateway port")[0].chunk.text
    assert kb.search("签名校验失败")[0].chunk.source == "faq.md"


def test_unreadable_file_is_skipped_and_reported(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    (docs / "broken.pdf").write_bytes(b"%PDF-garbage")
    report = build_kb(settings_for(tmp_path / "work"), docs, progress=False)
    assert report.files == 3
    assert len(report.skipped) == 1 and "broken.pdf" in report.skipped[0]


def test_empty_or_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "work")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KnowledgeBaseError, match="no supported documents"):
        build_kb(settings, tmp_path / "empty", progress=False)
    with pytest.raises(KnowledgeBaseError, match="not found"):
        build_kb(settings, tmp_path / "nope", progress=False)
    assert open_kb(settings) is None


def test_an_interrupted_build_leaves_the_previous_index_in_service(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    settings = settings_for(tmp_path / "work")
    build_kb(settings, docs, progress=False)
    kb_dir = settings.kb_dir
    # a build that died while writing its new index, and a swap that died half way
    (kb_dir / "index.new").mkdir()
    (kb_dir / "index.new" / "chunks.jsonl").write_text("{broken", encoding="utf-8")
    (kb_dir / "index").rename(kb_dir / "index.old")
    assert _sources(settings, "怎么撤回消息")[0] == "recall.md"
    report = build_kb(settings, docs, progress=False)
    assert report.files_reused == 3
    assert sorted(p.name for p in kb_dir.iterdir()) == ["index"]


def test_index_from_another_format_version_asks_for_a_rebuild(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    settings = settings_for(tmp_path / "work")
    build_kb(settings, docs, progress=False)
    manifest = settings.kb_dir / "index" / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**data, "version": 999}), encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="rebuild"):
        open_kb(settings)
    build_kb(settings, docs, progress=False)  # a rebuild repairs it
    assert open_kb(settings) is not None


def test_changing_chunk_size_rechunks_every_file(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"long.md": "# 长文\n\n" + "".join(f"网关第{i}步负责验签和解密。" for i in range(60))})
    small = build_kb(settings_for(tmp_path / "work", kb={"chunk_size": 100, "chunk_overlap": 0}), docs, progress=False)
    large = build_kb(settings_for(tmp_path / "work", kb={"chunk_size": 400, "chunk_overlap": 0}), docs, progress=False)
    assert small.chunks > large.chunks and large.files_reused == 0


def test_duplicate_passages_are_indexed_once_in_the_copy_of_their_language(tmp_path: Path) -> None:
    shared = "Run the gateway with larkdou gateway and point Lark at the event endpoint."
    docs = write_docs(tmp_path / "docs", {
        "a-zh/gateway.md": f"# 网关\n\n网关在几毫秒内应答，消息存入队列，助手再来取。\n\n## 示例\n\n{shared}\n",
        "b-en/gateway.md": f"# Gateway\n\nIt answers within milliseconds.\n\n## Example\n\n{shared}\n",
        "c-readme.md": f"# Gateway\n\n{shared}\n",
    })
    settings = settings_for(tmp_path / "work")
    report = build_kb(settings, docs, progress=False)
    assert report.duplicates == 2
    hits = [h for h in open_kb(settings).search("point Lark at the event endpoint", k=10) if shared in h.chunk.text]
    assert [h.chunk.source for h in hits] == ["b-en/gateway.md"]  # English text: the English document's copy

    again = build_kb(settings, docs, progress=False)
    assert (again.files_reused, again.chunks_new, again.duplicates) == (3, 0, 2)
    (docs / "b-en" / "gateway.md").unlink()
    (docs / "c-readme.md").unlink()
    build_kb(settings, docs, progress=False)
    hits = [h for h in open_kb(settings).search("point Lark at the event endpoint", k=10) if shared in h.chunk.text]
    assert [h.chunk.source for h in hits] == ["a-zh/gateway.md"]  # a copy that was dropped comes back
