"""Helpers shared by the knowledge-base and answer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from larkdou.config import Settings, build_settings
from larkdou.kb import build_sample_kb
from larkdou.message import Mention, Message


def settings_for(work_dir: Path, **sections: Any) -> Settings:
    """Settings with everything under `work_dir` and no environment variables."""
    data: dict[str, Any] = {"assistant": {"work_dir": str(work_dir)}, **sections}
    return build_settings(data, source="test.ini", base_dir=work_dir, env={})


def write_docs(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def group_msg(text: str, *, mentions: list[Mention] | None = None, mentioned_bot: bool = False,
              chat_type: str = "group", message_type: str = "text", sender_type: str = "user",
              msg_id: str = "om_1") -> Message:
    return Message(msg_id=msg_id, group_id="oc_chat", content=text, user_id="ou_user", chat_type=chat_type,
                   message_type=message_type, mentions=mentions or [], mentioned_bot=mentioned_bot,
                   sender_type=sender_type)


@pytest.fixture(scope="session")
def sample_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A work dir holding the bundled sample knowledge base, built once (read-only for tests)."""
    work = tmp_path_factory.mktemp("sample-kb")
    build_sample_kb(settings_for(work))
    return work


@pytest.fixture
def sample_settings(sample_work_dir: Path) -> Settings:
    return settings_for(sample_work_dir)


def shared_dir() -> Path:
    """`shared/` (real documents to build knowledge bases from) beside the repository or one of its
    parent folders; tests that need it are skipped where it is not laid out."""
    from larkdou.decision.kbs import shared_dir as find
    from larkdou.errors import KnowledgeBaseError

    try:
        return find()
    except KnowledgeBaseError as exc:
        pytest.skip(str(exc))
