"""`larkdou kb build|query|eval` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from larkdou.cli import main
from larkdou.kb import sample_docs_dir, sample_examples


def _config(tmp_path: Path, extra: str = "") -> str:
    path = tmp_path / "config.ini"
    path.write_text(f'[assistant]\nwork_dir = "work"\n{extra}', encoding="utf-8")
    return str(path)


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_build_query_eval_on_the_sample(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ex = sample_examples()
    r = _run("kb", "build", "--config", config, "--docs", str(sample_docs_dir()), "--good", str(ex["good"]),
             "--bad", str(ex["bad"]), "--no-progress")
    assert r.exit_code == 0, r.output
    assert "indexed 6 files (0 unchanged)" in r.output and "threshold" in r.output and "F1 1.00" in r.output
    assert (tmp_path / "work" / "kb" / "index" / "manifest.json").is_file()

    r = _run("kb", "query", "--config", config, "加密 key 怎么配置？", "-k", "2")
    assert r.exit_code == 0 and "would get: answer" in r.output
    assert "[1] score" in r.output and "02-configuration.md ›" in r.output and "[3]" not in r.output

    r = _run("kb", "query", "--config", config, "中午吃什么")
    assert "would get: stay silent" in r.output

    r = _run("kb", "eval", "--config", config, "--labels", str(ex["labels"]))
    assert r.exit_code == 0
    assert "30 messages" in r.output and "precision" in r.output and "F1" in r.output
    assert "answered wrongly (FP)" in r.output and "missed (FN)" in r.output


def test_rebuild_reports_unchanged_files_and_the_shipped_decision(tmp_path: Path) -> None:
    config = _config(tmp_path, f'\n[kb]\ndocs = "{sample_docs_dir()}"\n')
    assert _run("kb", "build", "--config", config, "--no-progress").exit_code == 0
    r = _run("kb", "build", "--config", config, "--no-progress")
    assert "(6 unchanged)" in r.output and "(0 new, 0 duplicates dropped)" in r.output
    assert "shipped settings; give --good and --bad examples" in r.output


def test_build_selects_files_and_reports_parser_warnings(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "_templates").mkdir(parents=True)
    (docs / "guide.md").write_text("# Port\n\nThe gateway listens on port 6666.\n", encoding="utf-8")
    (docs / "index.rst").write_text("Title\n===\n\nText.\n\n.. no-such-directive::\n", encoding="utf-8")
    (docs / "conf.py").write_text("project = 'x'\n", encoding="utf-8")
    (docs / "_templates" / "page.html").write_text("<p>template</p>", encoding="utf-8")
    (docs / "tool.py").write_text("PORT = 6666\n", encoding="utf-8")
    config = _config(tmp_path)
    r = CliRunner().invoke(main, ["kb", "build", "--config", config, "--docs", str(docs), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "indexed 2 files" in r.output
    assert "left out 2 files matching an exclude pattern and 1 of other formats" in r.output
    assert 'warning: index.rst: line 6: Unknown directive type "no-such-directive".' in r.stderr
    r = _run("kb", "query", "--config", config, "no-such-directive")
    assert "Unknown directive" not in r.output and "no-such-directive" not in r.output.split("\n", 1)[1]

    r = CliRunner().invoke(main, ["kb", "build", "--config", config, "--docs", str(docs), "--no-progress",
                                  "--include", "*.py", "--exclude", "*.rst"])
    assert "indexed 2 files" in r.output and "warning" not in r.stderr
    assert "tool.py" in _run("kb", "query", "--config", config, "PORT").output


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    config = _config(tmp_path)
    cases = [
        (["kb", "query", "--config", config, "x"], "no knowledge base in"),
        (["kb", "build", "--config", config], "no document folder"),
        (["kb", "build", "--config", config, "--docs", str(tmp_path / "nope")], "document folder not found"),
        (["kb", "build", "--config", config, "--docs", str(sample_docs_dir()), "--good", "missing.txt"],
         "--good: file not found"),
        (["kb", "eval", "--config", str(tmp_path / "absent.ini"), "--labels", "x"], "config file not found"),
    ]
    for args, message in cases:
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2, (args, r.output)
        assert f"error: {message}" in r.output and "Traceback" not in r.output

    assert _run("kb", "build", "--config", config, "--docs", str(sample_docs_dir()), "--no-progress").exit_code == 0
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"text": "x"}) + "\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["kb", "eval", "--config", config, "--labels", str(labels)])
    assert r.exit_code == 2 and "labels.jsonl:1" in r.output
