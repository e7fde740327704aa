"""Shared fixtures: free ports, a real redis-server, temporary work dirs."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from tests.redis_process import RedisProcess, free_port

__all__ = ["free_port"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A real redis-server on a free loopback port for the whole session; yields its base URL."""
    try:
        server = RedisProcess(tmp_path_factory.mktemp("redis"), databases=64).start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server.url
    server.stop()


@pytest.fixture
def own_redis(tmp_path: Path):
    """A redis-server of this test alone, which the test may stop and start again on the same port."""
    server = RedisProcess(tmp_path).start()
    yield server
    server.kill()


_db_numbers = itertools.cycle(range(1, 64))  # each test empties its database first


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A fresh, empty Redis database number for one test."""
    import redis as redis_sync

    url = f"{redis_server}/{next(_db_numbers)}"
    client = redis_sync.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs a test once per store backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def port() -> int:
    return free_port()


# Keep child processes from inheriting a user's real secrets.
for _var in list(os.environ):
    if _var.startswith("LARKDOU_"):
        os.environ.pop(_var)


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample knowledge base, built once per session; its index folder (read-only)."""
    from larkdou.config import build_settings
    from larkdou.kb import build_sample_kb

    work = tmp_path_factory.mktemp("sample-kb")
    settings = build_settings({"assistant": {"work_dir": str(work)}}, base_dir=work, env={})
    build_sample_kb(settings)
    return settings.kb_dir
