"""Several knowledge bases by name: `kb build|query|eval --name`, and the live registry."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from larkdou.cli import main
from larkdou.kb.build import build_kb
from larkdou.kb.registry import KBRegistry, kb_info, kb_names, kb_settings
from tests.kb.helpers import settings_for, write_docs

OPS_DOCS = {"deploy.md": "# 部署\n\n用 ansible 部署网关，playbook 在 ops/gateway.yml。\n\n"
                         "# Rollback\n\nRun `ansible-playbook rollback.yml` to roll the gateway back.\n"}
DEV_DOCS = {"api.md": "# 接口\n\n`POST /fetch` 取下一条消息，需要 Bearer token。\n",
            "sdk.md": "# SDK\n\nThe Python SDK wraps `/fetch` and `/ack` with retries.\n"}


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def _config(tmp_path: Path) -> str:
    path = tmp_path / "config.ini"
    path.write_text('[assistant]\nwork_dir = "work"\n', encoding="utf-8")
    return str(path)


def test_named_knowledge_bases_are_built_queried_and_evaluated_apart(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ops, dev = write_docs(tmp_path / "ops", OPS_DOCS), write_docs(tmp_path / "dev", DEV_DOCS)
    r = _run("kb", "build", "--config", config, "--docs", str(dev), "--no-progress")
    assert r.exit_code == 0 and "knowledge base 'default': indexed 2 files" in r.output, r.output
    r = _run("kb", "build", "--config", config, "--name", "ops", "--docs", str(ops), "--no-progress")
    assert r.exit_code == 0 and "knowledge base 'ops': indexed 1 files" in r.output, r.output
    # the default one stays where it always was; the named one beside it
    assert (tmp_path / "work/kb/index/manifest.json").is_file()
    assert (tmp_path / "work/kb/kbs/ops/index/manifest.json").is_file()

    r = _run("kb", "query", "--config", config, "--name", "ops", "怎么回滚 rollback 网关")
    assert r.exit_code == 0 and "deploy.md" in r.output and "api.md" not in r.output
    r = _run("kb", "query", "--config", config, "fetch 需要什么 token")
    assert r.exit_code == 0 and "api.md" in r.output and "deploy.md" not in r.output

    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"text": "怎么用 ansible 部署网关", "label": 1}, {"text": "中午吃什么", "label": 0}]), encoding="utf-8")
    r = _run("kb", "eval", "--config", config, "--name", "ops", "--labels", str(labels))
    assert r.exit_code == 0 and "2 messages" in r.output

    # a rebuild without --docs takes the folder of the last build
    (ops / "more.md").write_text("# 监控\n\n告警发到 ops 群。\n", encoding="utf-8")
    r = _run("kb", "build", "--config", config, "--name", "ops", "--no-progress")
    assert r.exit_code == 0 and "indexed 2 files (1 unchanged)" in r.output, r.output


def test_name_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    config = _config(tmp_path)
    docs = write_docs(tmp_path / "ops", OPS_DOCS)
    assert _run("kb", "build", "--config", config, "--name", "ops", "--docs", str(docs), "--no-progress").exit_code == 0
    cases = [
        (["kb", "build", "--config", config, "--name", "../etc", "--docs", str(docs)], "knowledge base name '../etc': must be a simple name"),
        (["kb", "build", "--config", config, "--name", "new"], "no document folder for knowledge base 'new'"),
        (["kb", "query", "--config", config, "--name", "nope", "x"],
         "no knowledge base named 'nope' (built: ops); build it with `larkdou kb build --name nope"),
        (["kb", "query", "--config", config, "x"], "no knowledge base in"),
    ]
    for args, message in cases:
        r = _run(*args)
        assert r.exit_code == 2 and f"error: {message}" in r.output and "Traceback" not in r.output, (args, r.output)
    assert not (tmp_path / "etc").exists() and not (tmp_path / "work/kb/kbs/new").exists()


async def test_the_registry_serves_each_name_and_picks_up_rebuilds(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "work")
    ops, dev = write_docs(tmp_path / "ops", OPS_DOCS), write_docs(tmp_path / "dev", DEV_DOCS)
    started = time.time()
    build_kb(kb_settings(settings, "ops"), ops, progress=False)
    registry = KBRegistry(settings)
    assert await registry.get("default") is None and kb_names(settings) == ["ops"]
    base = await registry.get("ops")
    assert base is not None and [h.chunk.source for h in base.search("ansible rollback")][:1] == ["deploy.md"]
    assert await registry.get("ops") is base  # unchanged: the same object, nothing reloaded

    info = registry.info("ops")
    assert info is not None and (info.documents, info.docs_dir) == (1, str(ops.resolve()))
    assert info.chunks >= 2 and started <= info.built_at <= time.time()

    build_kb(settings, dev, progress=False)
    build_kb(kb_settings(settings, "ops"), write_docs(ops, DEV_DOCS), progress=False)
    assert kb_names(settings) == ["default", "ops"]
    rebuilt = await registry.get("ops")
    assert rebuilt is not base and rebuilt is not None and len(rebuilt.manifest["files"]) == 3
    assert (await registry.get("default")) is not None and kb_info(settings, "ops").documents == 3  # type: ignore[union-attr]


async def test_a_knowledge_base_that_cannot_be_loaded_keeps_the_previous_in_service(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "work")
    build_kb(kb_settings(settings, "ops"), write_docs(tmp_path / "ops", OPS_DOCS), progress=False)
    registry = KBRegistry(settings)
    base = registry.preload("ops")
    assert base is not None
    manifest = tmp_path / "work/kb/kbs/ops/index/manifest.json"
    manifest.write_text(json.dumps({"version": 999}), encoding="utf-8")  # e.g. built by a newer larkdou
    assert await registry.get("ops") is base
