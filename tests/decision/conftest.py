"""Fixtures of the decision tests: the guide's knowledge base (the Lark group guide + the Lark notes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from larkdou.config import Settings
from larkdou.decision.kbs import guide_docs
from larkdou.kb import build_kb
from tests.kb.helpers import sample_settings, sample_work_dir, settings_for, shared_dir  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def shared() -> Path:
    """`shared/` beside the repository (the guide, the Lark notes, HuixiangDou's docs); skips without it."""
    return shared_dir()


@pytest.fixture(scope="session")
def guide_work_dir(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    """A work dir holding the guide's knowledge base, built once with default settings (read-only for tests)."""
    root = tmp_path_factory.mktemp("guide-kb")
    build_kb(settings_for(root / "work"), guide_docs(root / "docs"), progress=False)
    return root / "work"


@pytest.fixture
def guide_settings(guide_work_dir: Path) -> Settings:
    return settings_for(guide_work_dir)
