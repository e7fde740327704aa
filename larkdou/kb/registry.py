"""Several knowledge bases by name, each reloaded when `larkdou kb build` replaces it.

Where they live: "default" in the knowledge-base folder itself (`[kb] dir`, default
`<work_dir>/kb`: `index/` there, as before names existed), any other name `NAME` in
`<kb dir>/kbs/NAME/`. Names are simple (`larkdou.groups.KB_NAME`), so a name is never a path.
Every knowledge base shares the `[kb]` settings (chunking, top_k, embedding, threshold override).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from larkdou.config import Settings
from larkdou.errors import KnowledgeBaseError, LarkdouError
from larkdou.groups import DEFAULT_KB, KB_NAME, check_kb_name
from larkdou.kb.index import KnowledgeBase, live_dir, open_kb, read_manifest

log = logging.getLogger(__name__)
NAMED_DIR = "kbs"


def check_name(name: str) -> str:
    """`name` if it is a valid knowledge base name, else KnowledgeBaseError saying the rule."""
    try:
        return check_kb_name(name)
    except ValueError as exc:
        raise KnowledgeBaseError(f"knowledge base name {name!r}: {exc}") from None


def kb_dir(settings: Settings, name: str = DEFAULT_KB) -> Path:
    """The folder of knowledge base `name`."""
    check_name(name)
    return settings.kb_dir if name == DEFAULT_KB else settings.kb_dir / NAMED_DIR / name


def kb_settings(settings: Settings, name: str = DEFAULT_KB) -> Settings:
    """A copy of `settings` whose knowledge-base folder is that of `name`: what `build_kb` and
    `open_kb` take to work on one named knowledge base."""
    if name == DEFAULT_KB:
        return settings
    copy = settings.model_copy(deep=True)
    copy.kb.dir = str(kb_dir(settings, name))
    return copy


def kb_names(settings: Settings) -> list[str]:
    """The names of the knowledge bases built so far, "default" first."""
    names = [DEFAULT_KB] if live_dir(settings.kb_dir) is not None else []
    named = settings.kb_dir / NAMED_DIR
    if named.is_dir():
        names += sorted(p.name for p in named.iterdir() if KB_NAME.match(p.name) and live_dir(p) is not None)
    return names


@dataclass(frozen=True)
class KBInfo:
    """What a knowledge base is, from its manifest (the index is not loaded)."""

    name: str
    index_dir: Path
    built_at: float  # epoch seconds
    documents: int
    chunks: int
    docs_dir: str  # the folder it was built from


def kb_info(settings: Settings, name: str = DEFAULT_KB) -> KBInfo | None:
    """The knowledge base's build facts, or None when it has not been built."""
    index_dir = live_dir(kb_dir(settings, name))
    if index_dir is None:
        return None
    manifest = read_manifest(index_dir)
    return KBInfo(name=name, index_dir=index_dir, built_at=float(manifest.get("built_at") or 0.0),
                  documents=len(manifest.get("files") or {}), chunks=len(manifest.get("order") or []),
                  docs_dir=str(manifest.get("docs_dir") or ""))


_UNSEEN = ("", -1, -1)


class LiveKB:
    """One knowledge base, loaded on first use and reloaded when `larkdou kb build` swaps in a new
    index. A failed reload keeps the previous one in service (and is logged once per build)."""

    def __init__(self, settings: Settings, name: str = DEFAULT_KB, kb: KnowledgeBase | None = None):
        self.name = name
        self._settings = kb_settings(settings, name)
        self._kb = kb
        self._stamp = self._current_stamp() if kb is not None else _UNSEEN
        self._lock = asyncio.Lock()

    def _current_stamp(self) -> tuple[str, int, int] | None:
        index_dir = live_dir(self._settings.kb_dir)
        if index_dir is None:
            return None
        try:
            st = (index_dir / "manifest.json").stat()
        except OSError:
            return None
        return str(index_dir), st.st_ino, st.st_mtime_ns

    async def get(self) -> KnowledgeBase | None:
        """The current knowledge base; None when it has never been built (or never loaded)."""
        stamp = self._current_stamp()
        if stamp == self._stamp:
            return self._kb
        async with self._lock:
            if stamp != self._stamp:
                try:
                    self._kb = await asyncio.to_thread(open_kb, self._settings)
                    if self._kb is not None:
                        log.info("knowledge base %r loaded from %s", self.name, self._settings.kb_dir)
                except (LarkdouError, OSError, ValueError) as exc:
                    log.error("knowledge base %r in %s not loaded, keeping the previous one: %s",
                              self.name, self._settings.kb_dir, exc)
                self._stamp = stamp
        return self._kb


class KBRegistry:
    """The knowledge bases of one deployment by name; each is a `LiveKB`, made on first use."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._live: dict[str, LiveKB] = {}

    def preload(self, name: str = DEFAULT_KB) -> KnowledgeBase | None:
        """Load `name` now (at start-up), so a broken one is an error at once rather than at the first
        message. None when it has not been built."""
        kb = open_kb(kb_settings(self._settings, name))
        self._live[name] = LiveKB(self._settings, name, kb)
        return kb

    def live(self, name: str = DEFAULT_KB) -> LiveKB:
        if name not in self._live:
            self._live[name] = LiveKB(self._settings, check_name(name))
        return self._live[name]

    async def get(self, name: str = DEFAULT_KB) -> KnowledgeBase | None:
        """Knowledge base `name` as it is now; None when it has not been built."""
        return await self.live(name).get()

    def info(self, name: str = DEFAULT_KB) -> KBInfo | None:
        return kb_info(self._settings, name)
