"""`larkdou kb build` prints the decision settings; `larkdou kb eval --explain / --split` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from larkdou.cli import main
from larkdou.kb import sample_docs_dir, sample_examples


def _config(tmp_path: Path) -> str:
    path = tmp_path / "config.ini"
    path.write_text(f'[assistant]\nwork_dir = "work"\n\n[kb]\ndocs = "{sample_docs_dir()}"\n', encoding="utf-8")
    return str(path)


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_build_prints_the_decision_and_explain_shows_each_signal(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ex = sample_examples()
    r = _run("kb", "build", "--config", config, "--good", str(ex["good"]), "--bad", str(ex["bad"]), "--no-progress")
    assert r.exit_code == 0, r.output
    assert "decision: model e5-1, threshold" in r.output and "on 31 good / 31 bad examples" in r.output
    assert "warning" not in r.output
    few = tmp_path / "few.txt"
    few.write_text("加密 key 怎么配置？\n网关默认端口是多少？\n", encoding="utf-8")
    r = _run("kb", "build", "--config", config, "--good", str(few), "--no-progress")
    assert "warning: only 2 good / 31 bad examples" in r.output  # the stored bad examples are reused

    r = _run("kb", "eval", "--config", config, "--explain", "请问加密 key 怎么配置？")
    assert r.exit_code == 0, r.output
    for name in ("asks", "retrieval", "matched", "technical", "bias"):
        assert name in r.output
    assert r.output.strip().endswith(": answer")
    r = _run("kb", "eval", "--config", config, "--explain", "这个比例也太高了吧")
    assert r.output.strip().endswith(": stay silent")
    r = _run("kb", "eval", "--config", config, "--explain", "收到")
    assert "chit-chat (never answered)" in r.output


def test_eval_counts_by_reason_and_holds_out_a_split(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _run("kb", "build", "--config", config, "--no-progress").exit_code == 0
    labels = sample_examples()["labels"]
    r = _run("kb", "eval", "--config", config, "--labels", str(labels), "-v")
    assert r.exit_code == 0, r.output
    assert "all labels: 30 messages" in r.output and "F1" in r.output
    assert "decided by the model: TP" in r.output and "chit-chat (never answered): TP 0" in r.output

    many = tmp_path / "many.jsonl"
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows += [{"text": q, "label": 1} for q in sample_examples()["good"].read_text(encoding="utf-8").splitlines()[1:]]
    rows += [{"text": q, "label": 0} for q in sample_examples()["bad"].read_text(encoding="utf-8").splitlines()[1:]]
    many.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in rows) + "\n", encoding="utf-8")
    r = _run("kb", "eval", "--config", config, "--labels", str(many), "--split", "0.5")
    assert r.exit_code == 0, r.output
    assert "adjusted on" in r.output and "reported on the other" in r.output
    assert "shipped model:" in r.output and ("adjusted on the other part:" in r.output
                                             or "adjusted (kept the shipped model):" in r.output)
    used, held = (int(x) for x in r.output.split("adjusted on ")[1].split(" messages, reported on the other ")[0:1]
                  + [r.output.split("reported on the other ")[1].split(":")[0]])
    assert used + held == len(rows) and used > 10 and held > 10


def test_eval_needs_labels_or_a_message(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert _run("kb", "build", "--config", config, "--no-progress").exit_code == 0
    r = CliRunner().invoke(main, ["kb", "eval", "--config", config])
    assert r.exit_code == 2 and "give --labels FILE" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["kb", "eval", "--config", config, "--labels", "x.jsonl", "--split", "2"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"text": "网关端口是多少？", "label": 1}\n{"text": "收到", "label": "no"}\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["kb", "eval", "--config", config, "--labels", str(bad)])
    assert r.exit_code != 0 and f"{bad}:2: text must be a string and label 0 or 1" in r.output
    assert "Traceback" not in r.output
