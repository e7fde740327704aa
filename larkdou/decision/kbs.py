"""The three knowledge bases the labelled messages belong to, built with the real `build_kb`.

Used by the trainer, the benchmark and the tests. `shared/` (HuixiangDou's docs, the Lark group
guide, the Lark notes) is looked for beside the repository and beside its parent folders.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from larkdou.config import Settings, build_settings
from larkdou.errors import KnowledgeBaseError
from larkdou.kb import build_kb, sample_docs_dir
from larkdou.kb.index import KnowledgeBase, open_kb

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """The `shared/` folder holding `corpora/`, `seed/` and `reference/`."""
    for parent in [REPO, *REPO.parents]:
        candidate = parent / "shared"
        if (candidate / "seed" / "lark-group-guide.md").is_file():
            return candidate
    raise KnowledgeBaseError(f"no shared/ folder (with seed/lark-group-guide.md) beside {REPO} or its parents")


def guide_docs(folder: Path) -> Path:
    """A folder holding the Lark group guide and the Lark notes (the guide's knowledge base)."""
    shared = shared_dir()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared / "seed" / "lark-group-guide.md", folder / "lark-group-guide.md")
    shutil.copy(shared / "reference" / "lark-protocol.md", folder / "lark-protocol.md")
    return folder


def docs_of(name: str, scratch: Path) -> Path:
    if name == "hxd":
        return shared_dir() / "corpora" / "huixiangdou"
    if name == "guide":
        return guide_docs(scratch / "guide-docs")
    if name == "sample":
        return sample_docs_dir()
    raise KnowledgeBaseError(f"unknown training knowledge base {name!r}")


def settings_in(work: Path, embedding: str = "none") -> Settings:
    return build_settings({"assistant": {"work_dir": str(work)}, "kb": {"embedding": embedding}},
                          source="<training>", base_dir=work, env={})


def training_kbs(scratch: Path, names: tuple[str, ...] = ("hxd", "guide", "sample"),
                 embedding: str = "none") -> dict[str, KnowledgeBase]:
    """Each knowledge base built (incrementally) under `scratch/<embedding>/<name>` and loaded."""
    out: dict[str, KnowledgeBase] = {}
    for name in names:
        settings = settings_in(scratch / embedding / name, embedding)
        build_kb(settings, docs_of(name, scratch), progress=False)
        kb = open_kb(settings, required=True)
        assert kb is not None
        out[name] = kb
    return out
