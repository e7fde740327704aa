"""The labelled data, the shipped models and their promise: clearly better than a length rule on the
held-out test split, with no labels from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from larkdou.decision import corpus
from larkdou.decision.decide import Decider
from larkdou.decision.kbs import training_kbs
from larkdou.decision.model import SHIPPED, Model, shipped
from larkdou.decision.train import SIGNS
from larkdou.errors import KnowledgeBaseError


def test_the_labelled_messages_are_what_the_generator_writes() -> None:
    rows = corpus.load()
    assert [m.text for m in rows] == [m.text for m in corpus.assemble()[0]]
    assert len(rows) >= 2000 and len({m.text for m in rows}) == len(rows)
    positives = sum(m.label for m in rows)
    assert 0.25 < positives / len(rows) < 0.45
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", m.text)) for m in rows) > 0.6 * len(rows)
    assert sum(not re.search(r"[\u4e00-\u9fff]", m.text) for m in rows) > 150
    assert {m.kb for m in rows} == set(corpus.KB_NAMES)
    test = [m for m in rows if m.split == "test"]
    assert 0.25 < len(test) / len(rows) < 0.35
    assert corpus.split_of("中午吃什么") == corpus.split_of("中午吃什么")


def test_the_shipped_models_are_readable_and_argue_the_right_way() -> None:
    for kind in SHIPPED:
        model = shipped(kind)
        assert model.weights and 0 < model.threshold < 1
        for name, weight in model.weights.items():
            assert SIGNS[name] * weight >= 0, (kind, name)
    direction = np.array(shipped("e5").direction)
    assert direction.shape == (384,) and abs(np.linalg.norm(direction) - 1) < 1e-3
    assert shipped("lexical").direction is None
    with pytest.raises(KnowledgeBaseError, match="malformed"):
        Model.from_dict({"name": "x", "weights": []})


def test_a_saved_model_loads_back(tmp_path: Path) -> None:
    model = shipped("e5")
    model.save(tmp_path / "m.json")
    again = Model.from_dict(json.loads((tmp_path / "m.json").read_text(encoding="utf-8")))
    assert again.weights == model.weights and again.threshold == model.threshold
    assert np.allclose(again.direction, model.direction, atol=1e-5)


def test_the_shipped_default_clearly_beats_the_length_rule_on_the_test_split(tmp_path: Path, shared: Path) -> None:
    deciders = {name: Decider.for_kb(kb) for name, kb in training_kbs(tmp_path).items()}
    test = [m for m in corpus.load() if m.split == "test"]
    tp = fp = fn = ltp = lfp = lfn = 0
    for m in test:
        answer = deciders[m.kb].decide(m.text).answer
        long_enough = len("".join(m.text.split())) >= 22
        tp, fp, fn = tp + (answer and m.label), fp + (answer and not m.label), fn + (not answer and m.label)
        ltp, lfp, lfn = ltp + (long_enough and m.label), lfp + (long_enough and not m.label), lfn + (not long_enough and m.label)
    f1, length_f1 = 2 * tp / (2 * tp + fp + fn), 2 * ltp / (2 * ltp + lfp + lfn)
    assert f1 >= 0.85 and f1 >= length_f1 + 0.15, (f1, length_f1)


def test_a_message_meant_for_the_bot_needs_less_evidence(sample_settings) -> None:  # type: ignore[no-untyped-def]
    from larkdou.kb import open_kb

    decider = Decider.for_kb(open_kb(sample_settings))
    room, to_bot = decider.decide("网关的端口"), decider.decide("网关的端口", addressed=True)
    assert to_bot.probability > room.probability and to_bot.answer
    assert decider.decide("redis").why == "too_short" and decider.decide("redis", addressed=True).why == "model"
