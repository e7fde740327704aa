"""The threshold is chosen from example questions to maximise F1, and stored with the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from larkdou.errors import KnowledgeBaseError
from larkdou.kb import build_kb, open_kb, sample_examples
from larkdou.kb.calibrate import choose_threshold, evaluate, read_labels
from larkdou.kb.index import DEFAULT_THRESHOLD
from tests.kb.helpers import settings_for, write_docs


def test_separable_scores_get_a_threshold_between_them() -> None:
    cal = choose_threshold([0.9, 0.8, 0.7], [0.1, 0.2, 0.0])
    assert 0.2 < cal.threshold < 0.7
    assert (cal.f1, cal.source, cal.good, cal.bad) == (1.0, "examples", 3, 3)


def test_overlapping_scores_get_the_best_f1() -> None:
    cal = choose_threshold([0.9, 0.8, 0.3], [0.5, 0.1])
    # answering everything above 0.2 gets F1 6/7; above 0.65 gets 0.8; above 0.4 gets 0.67
    assert 0.1 < cal.threshold < 0.3
    assert cal.f1 == pytest.approx(6 / 7)


def test_without_both_kinds_of_example_the_default_stands() -> None:
    assert choose_threshold([0.9], []).threshold == DEFAULT_THRESHOLD
    assert choose_threshold([], []).source == "default"


def test_build_stores_the_calibrated_threshold_and_reuses_the_examples(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {
        "a.md": "# 加密\n\n在 config.ini 的 frontend.lark_group 里设置 encrypt_key。\n\n"
                "# 端口\n\n网关默认端口是 6666。\n",
    })
    good = write_docs(tmp_path, {"good.txt": "encrypt_key 在哪里设置\n网关默认端口\n"}) / "good.txt"
    bad = write_docs(tmp_path, {"bad.txt": "# comment\n中午吃什么\n收到\n周末去哪里玩\n"}) / "bad.txt"
    settings = settings_for(tmp_path / "work")
    report = build_kb(settings, docs, good=good, bad=bad, progress=False)
    assert report.calibration is not None and report.calibration.source == "examples"
    assert (report.calibration.good, report.calibration.bad, report.calibration.f1) == (2, 3, 1.0)
    kb = open_kb(settings)
    assert kb.threshold == report.calibration.threshold

    again = build_kb(settings, docs, progress=False)  # no examples given: the stored ones are used
    assert again.calibration == report.calibration
    override = settings_for(tmp_path / "work", kb={"threshold": 0.99})
    assert open_kb(override).threshold == 0.99


def test_sample_labels_are_decided_well(sample_settings) -> None:  # type: ignore[no-untyped-def]
    scores, rows = evaluate(open_kb(sample_settings), read_labels(sample_examples()["labels"]))
    assert len(rows) == 30
    assert scores.precision >= 0.9 and scores.recall >= 0.8


def test_bad_labels_file_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "labels.jsonl"
    p.write_text(json.dumps({"text": "ok", "label": 1}) + "\n" + json.dumps({"text": "x", "label": 2}) + "\n",
                 encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="labels.jsonl:2"):
        read_labels(p)
    p.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError, match="labels.jsonl:1"):
        read_labels(p)
