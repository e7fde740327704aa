"""Logistic regression in numpy, and the measures used to judge a decision (F1, AUC).

Small on purpose: a dozen features, a few thousand examples; Newton steps with an L2 pull toward a
prior (zero when training from scratch, the shipped weights when adjusting to a user's examples).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1.0, prior: np.ndarray | None = None,
                 free: np.ndarray | None = None, sample_weight: np.ndarray | None = None,
                 iterations: int = 50) -> np.ndarray:
    """Coefficients (bias first) minimising the log loss + l2/2 * |w - prior|^2.

    `x` has no bias column; the bias is never pulled toward the prior. `free` (a bool mask over the
    coefficients, bias first) limits which may change from the prior; the others stay at it.
    """
    n, d = x.shape
    xb = np.hstack([np.ones((n, 1)), x])
    prior = np.zeros(d + 1) if prior is None else np.asarray(prior, dtype=float)
    free = np.ones(d + 1, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    penalty = np.full(d + 1, l2)
    penalty[0] = 1e-6
    w = prior.copy()
    idx = np.flatnonzero(free)
    for _ in range(iterations):
        p = sigmoid(xb @ w)
        grad = xb.T @ (sw * (p - y)) + penalty * (w - prior)
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hess[np.ix_(idx, idx)] + 1e-9 * np.eye(len(idx)), grad[idx])
        w[idx] -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return w


def f1_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """(F1, precision, recall) of answering when score >= threshold."""
    pred = scores >= threshold
    tp = float(np.sum(pred & (labels == 1)))
    fp = float(np.sum(pred & (labels == 0)))
    fn = float(np.sum(~pred & (labels == 1)))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The F1-best threshold; among equally good ones, the middle of the widest run."""
    values = np.unique(scores)
    if len(values) == 1:
        return float(values[0])
    cuts = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2])
    f1s = np.array([f1_at(scores, labels, c)[0] for c in cuts])
    best = np.flatnonzero(f1s >= f1s.max() - 1e-12)
    return float(cuts[best[len(best) // 2]])


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (the chance a random positive outscores a random negative)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
