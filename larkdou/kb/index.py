"""The built knowledge base on disk, and search over it.

Layout of `<kb dir>/index/` (written whole by `build_kb`, then swapped in):
    manifest.json   files and their hashes, chunk ids, build settings, the answer decision's settings
    chunks.jsonl    one chunk a line (id, source, heading, text)
    tokens.jsonl    each chunk's tokens (reused by the next build, not loaded for search)
    df.json         document frequency of each token (for the relevance score)
    bm25/           the bm25s index
    vectors.npy     dense vectors, one row per chunk (only with embeddings)
    languages.txt   each chunk's language, a letter a chunk: z (Chinese) or e (only with embeddings)

A hit's relevance is in [0, 1]: the share of the question's information (IDF-weighted tokens) found
in the passage; with embeddings it is the mean of that share and the passage's cosine similarity.
Ranking fuses BM25 and dense results with reciprocal rank fusion. Dense similarity is higher between
texts of the same language, so in a knowledge base of Chinese and English documents an English
question would find only English passages by meaning: the dense ranking lets each language take its
turn (the language of the best passage first), so a Chinese passage that answers an English question
still ranks. A follow-up ("那助手呢？") is searched with its conversation's earlier question as `context`: the words only the context has count
`CONTEXT_WEIGHT` times as much as the question's own, so the context says what the follow-up is about
while a follow-up that changes the subject still finds its own subject. Whether an unaddressed group
message is answered at all is decided elsewhere (`larkdou.decision`).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from larkdou.config import Settings
from larkdou.errors import KnowledgeBaseError
from larkdou.kb.chunking import Chunk
from larkdou.kb.embeddings import Embedder, make_embedder
from larkdou.kb.tokens import query_tokens, tokenize

FORMAT_VERSION = 1
RRF_K = 60
TEXT_VECTORS_KEPT = 512
CANDIDATES = 10
CONTEXT_WEIGHT = 0.5  # a context word's weight relative to a word of the question itself


@dataclass
class Hit:
    chunk: Chunk
    score: float  # the ranking score: BM25, or the fused RRF score with embeddings
    relevance: float  # in [0, 1]


def live_dir(kb_dir: Path) -> Path | None:
    """The folder of the current index; falls back to the previous one if a swap was interrupted."""
    for name in ("index", "index.old"):
        if (kb_dir / name / "manifest.json").is_file():
            return kb_dir / name
    return None


def read_manifest(index_dir: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise KnowledgeBaseError(f"{index_dir}: unreadable manifest ({exc})") from None
    if manifest.get("version") != FORMAT_VERSION:
        raise KnowledgeBaseError(f"{index_dir}: built by another version; rebuild with `larkdou kb build`")
    return manifest


def read_chunks(index_dir: Path, name: str = "chunks.jsonl") -> list[Chunk]:
    with open(index_dir / name, encoding="utf-8") as f:
        return [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]


class KnowledgeBase:
    """A loaded index. `search` is synchronous CPU work; call it in a thread from async code."""

    def __init__(self, index_dir: Path, *, embedder: Embedder | None = None):
        self.index_dir = index_dir
        self.manifest = read_manifest(index_dir)
        self.chunks = read_chunks(index_dir)
        self.df: dict[str, int] = json.loads((index_dir / "df.json").read_text(encoding="utf-8"))
        self._bm25 = bm25s.BM25.load(str(index_dir / "bm25"), show_progress=False) if self.chunks else None
        self._vectors: np.ndarray | None = None
        self._query_vectors: dict[str, np.ndarray] = {}
        self._text_vectors: dict[str, np.ndarray] = {}
        self._cache_lock = threading.Lock()
        self._embedder = None
        self._languages: np.ndarray | None = None  # which chunks are Chinese, when some are and some not
        if self.manifest.get("embedding") and embedder is not None:
            if embedder.name != self.manifest["embedding"]:
                raise KnowledgeBaseError(
                    f"{index_dir}: built with embedding {self.manifest['embedding']!r}, config asks for "
                    f"{embedder.name!r}; rebuild with `larkdou kb build`")
            self._vectors = np.load(index_dir / "vectors.npy")
            self._embedder = embedder
            self._languages = _read_languages(index_dir, len(self.chunks))

    def stamp(self) -> tuple[int, int]:
        st = (self.index_dir / "manifest.json").stat()
        return st.st_ino, st.st_mtime_ns

    def _idf(self, token: str) -> float:
        n, df = len(self.chunks), self.df.get(token, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def idf(self, token: str) -> float:
        """How rare `token` is in the knowledge base (BM25's IDF); highest for a token no chunk has."""
        return self._idf(token)

    def coverage(self, query_tokens: list[str], chunk: Chunk) -> float:
        """IDF-weighted share of the query's distinct tokens that occur in `chunk`."""
        wanted = set(query_tokens)
        if not wanted:
            return 0.0
        have = set(tokenize(chunk.index_text()))
        total = sum(self._idf(t) for t in wanted)
        return sum(self._idf(t) for t in wanted & have) / total if total else 0.0

    def search(self, query: str, k: int = 4, *, context: str = "") -> list[Hit]:
        """The `k` best passages for `query`, best first (empty when nothing matches). `context`: the
        earlier text a follow-up refers to, its own words weighted `CONTEXT_WEIGHT` (see the module
        docstring); relevance stays the share of `query`'s information."""
        tokens = query_tokens(query, self.df)
        own = set(tokens)
        extra = [t for t in query_tokens(context, self.df) if t not in own] if context else []
        if not self.chunks or not (tokens or extra):
            return []
        n = min(len(self.chunks), max(k, CANDIDATES))
        bm25_ranked = self.lexical(tokens, n, context=extra)
        if self._vectors is None:
            hits = [Hit(self.chunks[d], s, self.coverage(tokens, self.chunks[d])) for d, s in bm25_ranked]
        else:
            hits = self._fused(f"{query} {context}".strip(), tokens, bm25_ranked, n)
        hits.sort(key=lambda h: (-h.score, -h.relevance))
        return hits[:k]

    def lexical(self, tokens: list[str], n: int = CANDIDATES, *,
                context: list[str] | None = None) -> list[tuple[int, float]]:
        """(chunk number, raw BM25 score) of the `n` best chunks for these tokens, best first; the
        `context` tokens add their scores times `CONTEXT_WEIGHT`."""
        if not self.chunks or not (tokens or context):
            return []
        # get_scores + argpartition: the same scores as bm25s' retrieve without its per-call thread pool
        scores = self._bm25.get_scores(tokens) if tokens else np.zeros(len(self.chunks), dtype=np.float32)
        if context:
            scores = scores + CONTEXT_WEIGHT * self._bm25.get_scores(context)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(d), float(scores[d])) for d in top if scores[d] > 0]

    @property
    def dense(self) -> bool:
        """Whether this index has dense vectors (and the embedder to query them)."""
        return self._vectors is not None

    def query_vector(self, query: str) -> np.ndarray | None:
        """The embedding of `query`, or None without dense vectors. The last few are kept, so search
        and the answer decision embed a message once."""
        if self._embedder is None or self._vectors is None:
            return None
        with self._cache_lock:
            qvec = self._query_vectors.get(query)
        if qvec is None:
            qvec = self._embedder.embed([query])[0]
            with self._cache_lock:
                if len(self._query_vectors) >= 32:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
                self._query_vectors[query] = qvec
        return qvec

    def similarities(self, query: str, qvec: np.ndarray | None = None) -> np.ndarray | None:
        """Cosine similarity of `query` (or of its vector, when given) to every chunk; None without dense vectors."""
        if self._vectors is None:
            return None
        qvec = self.query_vector(query) if qvec is None else qvec
        # einsum, not BLAS: BLAS threads spin after a product and slow the next embedding 2-4x on 2 cores
        return None if qvec is None else np.einsum("ij,j->i", self._vectors, qvec)

    def best_similarities(self, queries: list[str]) -> list[float]:
        """Each query's best cosine similarity to any chunk, embedding the queries in one batch
        (empty without dense vectors)."""
        if self._embedder is None or self._vectors is None or not len(self._vectors):
            return []
        return [float(v) for v in np.max(self._vectors @ self._embedder.embed(queries).T, axis=0)]

    def _fused(self, query: str, tokens: list[str], bm25_ranked: list[tuple[int, float]], n: int) -> list[Hit]:
        sims = self.similarities(query)
        assert sims is not None
        dense = self._dense_ranked(sims, n)
        fused: dict[int, float] = {}
        for rank, (d, _) in enumerate(bm25_ranked):
            fused[d] = fused.get(d, 0.0) + 1.0 / (RRF_K + rank + 1)
        for rank, d in enumerate(dense):
            fused[int(d)] = fused.get(int(d), 0.0) + 1.0 / (RRF_K + rank + 1)
        return [Hit(self.chunks[d], s, 0.5 * self.coverage(tokens, self.chunks[d]) + 0.5 * max(0.0, float(sims[d])))
                for d, s in fused.items()]

    def _dense_ranked(self, sims: np.ndarray, n: int) -> list[int]:
        """The `n` chunks most similar in meaning; with several languages, each takes its turn."""
        if self._languages is None:
            return _top(np.arange(len(sims)), sims, n)
        ranked = [_top(np.flatnonzero(mask), sims, n) for mask in (self._languages, ~self._languages)]
        ranked.sort(key=lambda top: -sims[top[0]])
        first, second = ranked
        turns = [d for pair in zip(first, second) for d in pair] + first[len(second):] + second[len(first):]
        return turns[:n]

    def relevance(self, hits: list[Hit]) -> float:
        return max((h.relevance for h in hits), default=0.0)

    def text_similarities(self, query: str, texts: list[str]) -> list[float] | None:
        """Cosine similarity of `query` to each of `texts` (e.g. the sentences of a passage), embedded
        as documents; the vectors of the last few hundred texts are kept. None without an embedder."""
        qvec = self.query_vector(query)
        if qvec is None or self._embedder is None:
            return None
        with self._cache_lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._text_vectors))
        if missing:
            embed = getattr(self._embedder, "embed_passages", self._embedder.embed)
            fresh = embed(missing)
            with self._cache_lock:
                while len(self._text_vectors) + len(missing) > TEXT_VECTORS_KEPT and self._text_vectors:
                    self._text_vectors.pop(next(iter(self._text_vectors)))
                self._text_vectors.update(zip(missing, fresh))
        with self._cache_lock:
            vectors = [self._text_vectors.get(t) for t in texts]
        return [float(np.dot(v, qvec)) if v is not None else 0.0 for v in vectors]


def _top(ids: np.ndarray, sims: np.ndarray, n: int) -> list[int]:
    """The `n` of `ids` with the highest `sims`, best first."""
    if len(ids) > n:
        ids = ids[np.argpartition(-sims[ids], n - 1)[:n]]
    return [int(d) for d in ids[np.argsort(-sims[ids], kind="stable")]]


def _read_languages(index_dir: Path, count: int) -> np.ndarray | None:
    """Which chunks are Chinese (a boolean per chunk), when the index has both languages; None when it
    has one, or was built before languages were recorded."""
    try:
        letters = (index_dir / "languages.txt").read_text(encoding="ascii")
    except (OSError, ValueError):
        return None
    if len(letters) != count:
        return None
    chinese = np.frombuffer(letters.encode("ascii"), dtype=np.uint8) == ord("z")
    return chinese if 0 < int(chinese.sum()) < count else None


def open_kb(settings: Settings, *, required: bool = False) -> KnowledgeBase | None:
    """Load the knowledge base under the work dir; None (or an error if `required`) when not built."""
    index_dir = live_dir(settings.kb_dir)
    if index_dir is None:
        if required:
            raise KnowledgeBaseError(
                f"no knowledge base in {settings.kb_dir}; build one with "
                f"`larkdou kb build --docs DIR --config {settings.source}`")
        return None
    manifest = read_manifest(index_dir)
    built_with = manifest.get("embedding") or ""
    embedder = make_embedder(settings, built_with=built_with) if built_with else None
    return KnowledgeBase(index_dir, embedder=embedder)
