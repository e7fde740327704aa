"""Fixtures of the answer tests: the sample knowledge base, and the assistant's store (context and ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest

from larkdou.store import ContextStore, Ledger, open_context, open_ledger
from tests.kb.helpers import sample_settings, sample_work_dir  # noqa: F401  (fixtures)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[ContextStore, Ledger]]:
    """The context store and the ledger in one SQLite file, as the assistant keeps them."""
    url = f"sqlite:///{tmp_path / 'assistant.db'}"
    context, ledger = await open_context(url), await open_ledger(url)
    yield context, ledger
    await context.close()
    await ledger.close()
