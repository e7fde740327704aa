"""Adjust the shipped decision model to a knowledge base with the user's good/bad examples.

The bias is refitted freely and the weights with a strong pull toward the shipped ones, then the
threshold is set where F1 on the examples is best (the shipped threshold when it is among the best,
otherwise the best cut nearest to it). The adjustment is kept only when it does strictly better on
those same examples than the shipped model; otherwise the shipped model stands. Fewer than
MIN_TRUSTED examples of either kind still adjust, with a warning that the figures are not to be trusted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from larkdou.decision.decide import Decider, shipped_for
from larkdou.decision.examples import Scores
from larkdou.decision.fit import fit_logistic
from larkdou.decision.model import Model
from larkdou.kb.index import KnowledgeBase

MIN_TRUSTED = 30
PULL = 30.0  # L2 strength toward the shipped weights


@dataclass
class Adjustment:
    source: str  # "examples" (adjusted) or "default" (the shipped model)
    model: str  # the shipped model it starts from
    bias: float
    weights: dict[str, float]
    threshold: float
    good: int = 0
    bad: int = 0
    f1: float | None = None  # of the model kept, on the examples
    precision: float | None = None
    recall: float | None = None
    default_f1: float | None = None  # of the shipped model, on the examples
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> list[str]:
        """Lines for `kb build` to print: the decision settings and why."""
        head = (f"decision: model {self.model}, threshold {self.threshold:.3f}"
                + (f", bias {self.bias:+.3f}" if self.source == "examples" else ""))
        if self.source == "examples":
            head += (f"; adjusted on {self.good} good / {self.bad} bad examples (F1 {self.f1:.2f}, precision "
                     f"{self.precision:.2f}, recall {self.recall:.2f}; shipped model {self.default_f1:.2f})")
        elif self.good or self.bad:
            head += f"; shipped settings, checked on {self.good} good / {self.bad} bad examples"
            if self.f1 is not None:
                head += f" (F1 {self.f1:.2f}, precision {self.precision:.2f}, recall {self.recall:.2f})"
        else:
            head += " (shipped settings; give --good and --bad examples to adjust them)"
        return [head, *self.notes]


def _full_scores(model: Model, threshold: float, rows: list[tuple[dict[str, float] | None, bool]]) -> Scores:
    s = Scores()
    for signals, label in rows:
        s.add(label, signals is not None and model.probability(signals) >= threshold)
    return s


def _threshold_near(p: np.ndarray, y: np.ndarray, fixed_fn: int, prior: float) -> float:
    """The F1-best cut on these probabilities (rows the rules silence add `fixed_fn` misses), nearest `prior`."""
    cuts = np.unique(np.concatenate([[prior], (np.sort(p)[:-1] + np.sort(p)[1:]) / 2, [p.min() - 1e-6, p.max() + 1e-6]]))
    cuts = cuts[(cuts > 0) & (cuts < 1)]

    def f1(c: float) -> float:
        pred = p >= c
        tp = float(np.sum(pred & (y == 1)))
        fp = float(np.sum(pred & (y == 0)))
        fn = float(np.sum(~pred & (y == 1))) + fixed_fn
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    scores = np.array([f1(c) for c in cuts])
    best = cuts[scores >= scores.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - prior))])


def adjust(kb: KnowledgeBase, good: list[str], bad: list[str]) -> Adjustment:
    """The decision settings for `kb` given the user's examples (the shipped ones without examples)."""
    base = shipped_for(kb)
    default = Adjustment("default", base.name, base.bias, dict(base.weights), base.threshold, len(good), len(bad))
    if not good and not bad:
        return default
    decider = Decider(kb, base)
    rows: list[tuple[dict[str, float] | None, bool]] = []
    for text, label in [(q, True) for q in good] + [(q, False) for q in bad]:
        v = decider.decide(text)
        rows.append((v.signals if v.why == "model" else None, label))
    before = _full_scores(base, base.threshold, rows)
    default.f1, default.precision, default.recall, default.default_f1 = (before.f1, before.precision, before.recall,
                                                                          before.f1)
    if len(good) < MIN_TRUSTED or len(bad) < MIN_TRUSTED:
        default.notes.append(f"warning: only {len(good)} good / {len(bad)} bad examples; with fewer than "
                             f"{MIN_TRUSTED} of each the adjustment is small and its figures are not to be trusted")
    if not good or not bad:
        default.notes.append("the shipped model is kept: adjusting needs both good and bad examples")
        return default
    names = list(base.weights)
    decided = [(s, label) for s, label in rows if s is not None]
    if len({label for _, label in decided}) < 2:
        default.notes.append("the shipped model is kept: the examples the model decides are all of one kind")
        return default
    x = np.array([[s.get(n, 0.0) for n in names] for s, _ in decided], dtype=float)
    y = np.array([1.0 if label else 0.0 for _, label in decided])
    prior = np.array([base.bias, *[base.weights[n] for n in names]])
    w = fit_logistic(x, y, l2=PULL, prior=prior)
    w[1:][np.sign(w[1:]) != np.sign(prior[1:])] = 0.0  # a weight never turns to argue the other way
    tuned = base.adjusted(bias=float(w[0]), weights=dict(zip(names, map(float, w[1:]))))
    p = np.array([tuned.probability(s) for s, _ in decided])
    silenced_good = sum(1 for s, label in rows if s is None and label)
    threshold = _threshold_near(p, y, silenced_good, base.threshold)
    after = _full_scores(tuned, threshold, rows)
    if after.f1 <= before.f1:
        default.notes.append(f"the shipped model is kept: adjusting it did not do better on these examples "
                             f"(F1 {after.f1:.2f} vs {before.f1:.2f})")
        return default
    return Adjustment("examples", base.name, round(tuned.bias, 4), {n: round(v, 4) for n, v in tuned.weights.items()},
                      round(threshold, 4), len(good), len(bad), after.f1, after.precision, after.recall, before.f1,
                      default.notes)
