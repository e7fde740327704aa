"""The sample knowledge base, built once for the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from larkdou.config import build_settings
from larkdou.kb import build_sample_kb


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sample-kb")
    settings = build_settings({"assistant": {"work_dir": str(work)}}, base_dir=work, env={})
    build_sample_kb(settings)
    return settings.kb_dir
