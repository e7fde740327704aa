"""The user's examples: files of good/bad questions, labelled jsonl, and confusion counts on them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from larkdou.errors import KnowledgeBaseError


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

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

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
class Evaluation:
    scores: Scores = field(default_factory=Scores)
    by_reason: dict[str, Scores] = field(default_factory=dict)  # "model", "chitchat", "too_short"
    rows: list[tuple[str, bool, bool, float, str]] = field(default_factory=list)  # text, label, answered, p, why

    def add(self, text: str, label: bool, answered: bool, probability: float, why: str) -> None:
        self.scores.add(label, answered)
        self.by_reason.setdefault(why, Scores()).add(label, answered)
        self.rows.append((text, label, answered, probability, why))


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


def split_labels(labelled: list[tuple[str, bool]], share: float) -> tuple[list[tuple[str, bool]], list[tuple[str, bool]]]:
    """(calibration part, held-out part): about `share` of the examples held out, fixed by a hash of
    each text, so the same file always splits the same way."""
    held, used = [], []
    for text, label in labelled:
        h = int(hashlib.sha256(("split:" + text).encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
        (held if h < share else used).append((text, label))
    return used, held
