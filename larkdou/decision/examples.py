"""Choose the relevance threshold from example questions, and measure the answer decision.

Good examples should be answered, bad ones should not. The threshold kept is the one with the best
F1 on them; among equally good thresholds, the middle one (the widest margin on both sides).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from larkdou.errors import KnowledgeBaseError
from larkdou.kb.chitchat import is_chitchat
from larkdou.kb.index import DEFAULT_THRESHOLD, Hit, KnowledgeBase
from larkdou.kb.tokens import tokenize


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, label: bool, predicted: bool) -> None:
        if label and predicted:
            self.tp += 1
        elif label:
            self.fn += 1
        elif predicted:
            self.fp += 1
        else:
            self.tn += 1


@dataclass
class Calibration:
    threshold: float
    source: str  # "examples" or "default"
    f1: float | None = None
    precision: float | None = None
    recall: float | None = None
    good: int = 0
    bad: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _confusion(good: list[float], bad: list[float], threshold: float) -> Scores:
    s = Scores()
    for v in good:
        s.add(True, v >= threshold)
    for v in bad:
        s.add(False, v >= threshold)
    return s


def choose_threshold(good: list[float], bad: list[float]) -> Calibration:
    """The F1-best threshold for these relevance scores; the default when either list is empty."""
    if not good or not bad:
        return Calibration(DEFAULT_THRESHOLD, "default", good=len(good), bad=len(bad))
    values = sorted(set(good) | set(bad))
    candidates = [values[0] - 1e-6] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6]
    candidates = [c for c in candidates if c > 0]  # a zero-relevance message is never worth an answer
    results = [(c, _confusion(good, bad, c)) for c in candidates] or [(DEFAULT_THRESHOLD, Scores())]
    best_f1 = max(s.f1 for _, s in results)
    best = [(c, s) for c, s in results if s.f1 == best_f1]
    threshold, scores = best[len(best) // 2]
    return Calibration(round(threshold, 6), "examples", scores.f1, scores.precision, scores.recall,
                       len(good), len(bad))


MIN_GROUP_TOKENS = 2


def decision_score(kb: KnowledgeBase, text: str, hits: list[Hit] | None = None) -> float:
    """The score an unaddressed group message is judged by: the best passage's relevance, or 0 for
    chit-chat and for messages of fewer than MIN_GROUP_TOKENS distinct words (a bare "redis")."""
    if is_chitchat(text) or len(set(tokenize(text))) < MIN_GROUP_TOKENS:
        return 0.0
    return kb.relevance(kb.search(text) if hits is None else hits)


def calibrate(kb: KnowledgeBase, good: list[str], bad: list[str]) -> Calibration:
    return choose_threshold([decision_score(kb, q) for q in good], [decision_score(kb, q) for q in bad])


def evaluate(kb: KnowledgeBase, labelled: list[tuple[str, bool]]) -> tuple[Scores, list[tuple[str, bool, float]]]:
    """Confusion counts of the group answer decision on labelled messages, and each (text, label, score)."""
    scores, rows = Scores(), []
    for text, label in labelled:
        value = decision_score(kb, text)
        scores.add(label, value >= kb.threshold and value > 0)
        rows.append((text, label, value))
    return scores, rows


def read_questions(path: Path) -> list[str]:
    """One question a line; blank lines and lines starting with # are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(f"cannot read example questions {path}: {exc}") from None
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def read_labels(path: Path) -> list[tuple[str, bool]]:
    """A jsonl file of {"text": …, "label": 1 (answer) | 0 (stay silent)}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(f"cannot read labels {path}: {exc}") from None
    out: list[tuple[str, bool]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, label = row["text"], row["label"]
        except (ValueError, KeyError, TypeError):
            raise KnowledgeBaseError(f"{path}:{n}: expected {{\"text\": …, \"label\": 0 or 1}}") from None
        if not isinstance(text, str) or label not in (0, 1) or isinstance(label, float):
            raise KnowledgeBaseError(f"{path}:{n}: text must be a string and label 0 or 1")
        out.append((text, bool(label)))
    if not out:
        raise KnowledgeBaseError(f"{path}: no labelled examples")
    return out
