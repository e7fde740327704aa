"""The knowledge base: documents in, chunks and a BM25 (optionally dense) index out, plus the settings of
the answer decision (`larkdou.decision`)."""

from __future__ import annotations

from pathlib import Path

from larkdou.kb.build import BuildReport, build_kb
from larkdou.kb.index import Hit, KnowledgeBase, open_kb

SAMPLE_KB = Path(__file__).resolve().parent.parent / "data" / "sample_kb"


def sample_docs_dir() -> Path:
    """The bundled sample knowledge base: larkdou's own user documentation (Chinese and English)."""
    return SAMPLE_KB / "docs"


def sample_examples() -> dict[str, Path]:
    """The sample knowledge base's example questions: `good` / `bad` (one a line) and `labels` (jsonl)."""
    return {"good": SAMPLE_KB / "good.txt", "bad": SAMPLE_KB / "bad.txt", "labels": SAMPLE_KB / "labels.jsonl"}


def build_sample_kb(settings, progress: bool = False) -> BuildReport:  # type: ignore[no-untyped-def]
    """Build the sample knowledge base under the work dir, its decision checked on its example questions."""
    ex = sample_examples()
    return build_kb(settings, sample_docs_dir(), good=ex["good"], bad=ex["bad"], progress=progress)


__all__ = ["BuildReport", "Hit", "KnowledgeBase", "build_kb", "build_sample_kb", "open_kb",
           "sample_docs_dir", "sample_examples"]
