"""`build_kb`: documents in, a searchable index with the answer decision's settings out.

A rebuild only reads and chunks files whose bytes changed, and only tokenizes and embeds chunks whose
content-hash id is new. The new index is written beside the live one and swapped in at the end, so
a crash mid-build leaves the previous index in service.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bm25s
import numpy as np
from rich.progress import Progress

from larkdou.config import Settings
from larkdou.decision.examples import read_questions
from larkdou.errors import KnowledgeBaseError
from larkdou.kb.chunking import CHUNKER_VERSION, Chunk, chunk_document
from larkdou.kb.dedup import drop_duplicates
from larkdou.kb.document import language
from larkdou.kb.embeddings import Embedder, make_embedder
from larkdou.kb.index import FORMAT_VERSION, KnowledgeBase, live_dir, read_chunks, read_manifest
from larkdou.kb.loaders import load_file
from larkdou.kb.selection import select_documents
from larkdou.kb.tokens import tokenize

if TYPE_CHECKING:
    from larkdou.decision.adjust import Adjustment

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)
TOKENIZER_VERSION = 5


@dataclass
class BuildReport:
    index_dir: Path
    files: int = 0
    files_reused: int = 0
    chunks: int = 0
    chunks_new: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # "path: line N: …" from the parsers, never indexed
    duplicates: int = 0  # chunks dropped because another chunk has the same text
    excluded: int = 0  # files left out by an exclude pattern
    not_included: int = 0  # files of other formats, not asked for with an include pattern
    decision: Adjustment | None = None
    seconds: float = 0.0
    size_bytes: int = 0
    embedding: str = ""  # the embedder's name; "" for BM25 only


@dataclass
class _Previous:
    files: dict[str, Any] = field(default_factory=dict)
    chunks: dict[str, Chunk] = field(default_factory=dict)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    languages: dict[str, str] = field(default_factory=dict)  # chunk id -> its letter in languages.txt
    examples: dict[str, list[str]] = field(default_factory=dict)


def _previous(kb_dir: Path, params: dict[str, Any], embedding: str | None) -> _Previous:
    index_dir = live_dir(kb_dir)
    if index_dir is None:
        return _Previous()
    try:
        manifest = read_manifest(index_dir)
        chunks = {c.id: c for c in read_chunks(index_dir)}
        dropped_file = index_dir / "dropped.jsonl"
        if dropped_file.exists():
            chunks.update((c.id, c) for c in read_chunks(index_dir, "dropped.jsonl"))
        if manifest.get("tokenizer") == TOKENIZER_VERSION:
            with open(index_dir / "tokens.jsonl", encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    if row["id"] in chunks:
                        chunks[row["id"]].tokens = row["tokens"]
        vectors: dict[str, np.ndarray] = {}
        languages: dict[str, str] = {}
        if embedding and manifest.get("embedding") == embedding:
            matrix = np.load(index_dir / "vectors.npy")
            vectors = {cid: matrix[i] for i, cid in enumerate(manifest["order"])}
            letters_file = index_dir / "languages.txt"
            letters = letters_file.read_text(encoding="ascii") if letters_file.exists() else ""
            if len(letters) == len(manifest["order"]):
                languages = dict(zip(manifest["order"], letters))
        examples_file = index_dir / "examples.json"
        examples = json.loads(examples_file.read_text(encoding="utf-8")) if examples_file.exists() else {}
    except (OSError, ValueError, KeyError, KnowledgeBaseError) as exc:
        log.warning("previous index in %s not reused (%s); building from scratch", index_dir, exc)
        return _Previous()
    files = manifest.get("files", {}) if manifest.get("params") == params else {}
    return _Previous(files, chunks, vectors, languages, examples)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_chunks(path: Path, chunks: list[Chunk]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for c in chunks:
            row = {"id": c.id, "source": c.source, "heading": c.heading, "text": c.text, "title": c.title,
                   "anchor": c.anchor}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_index(out: Path, chunks: list[Chunk], dropped: list[Chunk], vectors: np.ndarray | None,
                 languages: dict[str, str]) -> None:
    _write_chunks(out / "chunks.jsonl", chunks)
    _write_chunks(out / "dropped.jsonl", dropped)  # duplicates, kept for the next incremental build
    with open(out / "tokens.jsonl", "w", encoding="utf-8") as f:
        for c in chunks:
            f.write(json.dumps({"id": c.id, "tokens": c.tokens}, ensure_ascii=False) + "\n")
    df: Counter[str] = Counter()
    for c in chunks:
        df.update(set(c.tokens))
    (out / "df.json").write_text(json.dumps(df, ensure_ascii=False), encoding="utf-8")
    if chunks:
        retriever = bm25s.BM25()
        retriever.index([c.tokens or [""] for c in chunks], show_progress=False)
        retriever.save(str(out / "bm25"), show_progress=False)
    if vectors is not None:
        np.save(out / "vectors.npy", vectors)
        # each chunk's language, for dense ranking that gives each language its turn (see index.py);
        # a chunk of the previous index keeps its letter (telling the language costs ~0.1 ms a chunk)
        letters = (languages.get(c.id) or ("z" if language(c.text) == "zh" else "e") for c in chunks)
        (out / "languages.txt").write_text("".join(letters), encoding="ascii")


def _embed(embedder: Embedder, chunks: list[Chunk], prev: _Previous, progress: Progress) -> np.ndarray:
    missing = [c for c in chunks if c.id not in prev.vectors]
    task = progress.add_task("embedding", total=len(missing))
    fresh: dict[str, np.ndarray] = {}
    embed = getattr(embedder, "embed_passages", embedder.embed)  # e5 embeds documents and questions differently
    for i in range(0, len(missing), 256):
        batch = missing[i:i + 256]
        for c, vec in zip(batch, embed([c.index_text() for c in batch])):
            fresh[c.id] = vec
        progress.advance(task, len(batch))
    rows = [prev.vectors.get(c.id, fresh.get(c.id)) for c in chunks]
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 1), dtype=np.float32)


def _swap(kb_dir: Path, new: Path) -> Path:
    live, old = kb_dir / "index", kb_dir / "index.old"
    if old.exists() and live.exists():
        shutil.rmtree(old)
    if live.exists():
        live.rename(old)
    new.rename(live)
    shutil.rmtree(old, ignore_errors=True)
    return live


def build_kb(settings: Settings, docs_dir: str | Path, good: str | Path | None = None,
             bad: str | Path | None = None, progress: bool = True, include: list[str] | None = None,
             exclude: list[str] | None = None) -> BuildReport:
    """Build (or incrementally rebuild) the knowledge base of `docs_dir` under the work dir.

    `good` / `bad`: files of example questions, one a line, that should / should not be answered;
    they adjust the answer decision (`larkdou.decision.adjust`). Without them the examples of the
    previous build are reused, if any. `include` / `exclude`: patterns added to `[kb] include` /
    `[kb] exclude` (see `larkdou.kb.selection`).
    """
    from larkdou.decision.adjust import adjust  # the decision reads indexes: imported here, not at the top

    started = time.perf_counter()
    docs = Path(docs_dir)
    kb_dir = settings.kb_dir
    params = {"chunk_size": settings.kb.chunk_size, "chunk_overlap": settings.kb.chunk_overlap,
              "chunker": CHUNKER_VERSION}
    examples = {"good": read_questions(Path(good)) if good else None, "bad": read_questions(Path(bad)) if bad else None}
    embedder = make_embedder(settings)
    selection = select_documents(docs, [*settings.kb.include, *(include or [])],
                                 [*settings.kb.exclude, *(exclude or [])])
    paths = selection.paths
    if not paths:
        raise KnowledgeBaseError(f"no supported documents in {docs} (md, rst, txt, html, pdf, docx; "
                                 f"other files with [kb] include or --include)")
    kb_dir.mkdir(parents=True, exist_ok=True)
    prev = _previous(kb_dir, params, embedder.name if embedder else None)
    new_dir = kb_dir / "index.new"
    shutil.rmtree(new_dir, ignore_errors=True)
    new_dir.mkdir()
    report = BuildReport(index_dir=kb_dir / "index", excluded=selection.excluded,
                         not_included=selection.not_included)
    files: dict[str, Any] = {}
    chunks: list[Chunk] = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("reading documents", total=len(paths))
        for path in paths:
            rel = path.relative_to(docs).as_posix()
            digest = _file_hash(path)
            old = prev.files.get(rel)
            if old and old["hash"] == digest and all(cid in prev.chunks for cid in old["chunks"]):
                doc_chunks = [prev.chunks[cid] for cid in old["chunks"]]
                warnings = list(old.get("warnings", []))
                report.files_reused += 1
            else:
                try:
                    document = load_file(path)
                except KnowledgeBaseError as exc:
                    report.skipped.append(str(exc))
                    bar.advance(task)
                    continue
                doc_chunks = chunk_document(rel, document, settings.kb.chunk_size, settings.kb.chunk_overlap)
                warnings = document.warnings
            files[rel] = {"hash": digest, "chunks": [c.id for c in doc_chunks], "warnings": warnings}
            report.warnings.extend(f"{rel}: {w}" for w in warnings)
            chunks.extend(doc_chunks)
            report.files += 1
            bar.advance(task)
        chunks, dropped = drop_duplicates(chunks)
        report.duplicates = len(dropped)
        for c in chunks:
            cached = prev.chunks.get(c.id)
            if cached is not None and cached.tokens:
                c.tokens = cached.tokens
            elif not c.tokens:
                c.tokens = tokenize(c.index_text())
                report.chunks_new += 1
        vectors = _embed(embedder, chunks, prev, bar) if embedder else None
    _write_index(new_dir, chunks, dropped, vectors, prev.languages)
    manifest: dict[str, Any] = {
        "version": FORMAT_VERSION, "tokenizer": TOKENIZER_VERSION, "params": params, "built_at": time.time(),
        "docs_dir": str(docs.resolve()), "files": files, "order": [c.id for c in chunks],
        "embedding": embedder.name if embedder else None,
    }
    (new_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    good_q = examples["good"] if examples["good"] is not None else prev.examples.get("good", [])
    bad_q = examples["bad"] if examples["bad"] is not None else prev.examples.get("bad", [])
    (new_dir / "examples.json").write_text(json.dumps({"good": good_q, "bad": bad_q}, ensure_ascii=False),
                                           encoding="utf-8")
    kb = KnowledgeBase(new_dir, embedder=embedder)
    report.decision = adjust(kb, good_q, bad_q)
    manifest["decision"] = report.decision.to_dict()
    (new_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    report.index_dir = _swap(kb_dir, new_dir)
    report.chunks = len(chunks)
    report.embedding = embedder.name if embedder else ""
    report.size_bytes = sum(p.stat().st_size for p in report.index_dir.rglob("*") if p.is_file())
    report.seconds = time.perf_counter() - started
    return report
