"""Dense embeddings: an OpenAI-compatible embeddings API fused with BM25, and local model paths."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from larkdou.errors import KnowledgeBaseError
from larkdou.kb import build_kb, open_kb
from larkdou.sandbox.llm import create_app
from larkdou.serving import serving
from tests.conftest import free_port
from tests.kb.helpers import settings_for, write_docs

DOCS = {
    "a.md": "# 加密\n\n在 frontend.lark_group 里设置 encrypt_key。\n",
    "b.md": "# 撤回\n\n发送豆哥撤回即可撤回消息。\n",
    "c.md": "# Port\n\nThe gateway listens on port 6666.\n",
}


async def test_api_embeddings_are_fused_and_reused_on_rebuild(tmp_path: Path) -> None:
    app = create_app()
    docs = write_docs(tmp_path / "docs", DOCS)
    async with serving(app) as url:
        settings = settings_for(tmp_path / "work", kb={"embedding": "api", "embedding_model": "test",
                                                        "embedding_base_url": f"{url}/v1"})
        first = await asyncio.to_thread(build_kb, settings, docs, None, None, False)
        embedded = sum(len(r["input"]) for r in app.state.llm.requests)
        assert embedded == first.chunks  # every chunk once (no example questions)

        kb = await asyncio.to_thread(open_kb, settings)
        hits = await asyncio.to_thread(kb.search, "encrypt_key 怎么设置")
        assert hits[0].chunk.source == "a.md"
        assert 0 < hits[0].relevance <= 1

        write_docs(docs, {"d.md": "# Fetch\n\nPOST /fetch needs a bearer token.\n"})
        app.state.llm.requests.clear()
        second = await asyncio.to_thread(build_kb, settings, docs, None, None, False)
        assert sum(len(r["input"]) for r in app.state.llm.requests) == second.chunks_new == 1


async def test_an_index_built_with_embeddings_refuses_another_model(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    async with serving(create_app()) as url:
        kb_conf = {"embedding": "api", "embedding_model": "test", "embedding_base_url": f"{url}/v1"}
        await asyncio.to_thread(build_kb, settings_for(tmp_path / "work", kb=kb_conf), docs, None, None, False)
        other = settings_for(tmp_path / "work", kb={**kb_conf, "embedding_model": "other"})
        with pytest.raises(KnowledgeBaseError, match="rebuild"):
            await asyncio.to_thread(open_kb, other)


def test_a_model_path_that_cannot_be_loaded_names_the_path(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    missing = "/data/bcee-embedding-base v1"
    settings = settings_for(tmp_path / "work", kb={"embedding": "local", "embedding_model": missing})
    with pytest.raises(KnowledgeBaseError, match="embedding model path cannot be loaded: /data/bcee-embedding-base v1"):
        build_kb(settings, docs, progress=False)
    not_a_model = tmp_path / "not a model"
    not_a_model.mkdir()
    settings = settings_for(tmp_path / "work", kb={"embedding": "local", "embedding_model": str(not_a_model)})
    with pytest.raises(KnowledgeBaseError, match=str(not_a_model)):
        build_kb(settings, docs, progress=False)
    assert open_kb(settings) is None  # nothing was written


def test_embeddings_api_failure_is_clear(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", DOCS)
    settings = settings_for(tmp_path / "work", kb={"embedding": "api", "embedding_model": "m",
                                                    "embedding_base_url": f"http://127.0.0.1:{free_port()}/v1"})
    with pytest.raises(KnowledgeBaseError, match="embeddings API .* unreachable"):
        build_kb(settings, docs, progress=False)


def test_an_english_question_finds_the_chinese_passage_that_answers_it(tmp_path: Path) -> None:
    # e5 rates texts of the question's language closer; the dense ranking lets each language take turns
    topics = ["ports", "tokens", "logs", "queues", "retries", "metrics", "configs", "workers", "stores",
              "proxies", "timeouts", "upgrades", "backups", "schedules", "users", "groups"]
    docs = {f"en/{t}.md": f"# Bot {t}\n\nThe bot keeps its {t} for each group chat. Messages in the group "
                          f"about {t} are answered by the bot, and the bot's {t} can be listed." for t in topics}
    docs["zh/recall.md"] = "# 撤回\n\n在群里发送“豆哥撤回”，机器人会把它在这个群里发过的消息全部撤回。"
    settings = settings_for(tmp_path / "work", kb={"embedding": "e5"})
    build_kb(settings, write_docs(tmp_path / "docs", docs), progress=False)
    kb = open_kb(settings)
    assert kb is not None and kb.dense
    # 16 English passages are closer in meaning to e5 (the Chinese one ranks 17th by similarity alone)
    question = "How can I recall the bot's messages in a group?"
    assert "zh/recall.md" in [h.chunk.source for h in kb.search(question, k=10)]
    # an incremental rebuild keeps each unchanged chunk's language
    write_docs(tmp_path / "docs", {"en/alerts.md": "# Bot alerts\n\nThe bot keeps its alerts for each group chat."})
    assert build_kb(settings, tmp_path / "docs", progress=False).chunks_new == 1
    kb = open_kb(settings)
    assert kb is not None and "zh/recall.md" in [h.chunk.source for h in kb.search(question, k=10)]
