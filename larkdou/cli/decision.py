"""What `larkdou kb eval` prints: one message's signals (`--explain`), or the decision measured on
labelled messages, optionally adjusted on one part and reported on the other (`--split`)."""

from __future__ import annotations

from pathlib import Path

import click

from larkdou.decision.adjust import adjust
from larkdou.decision.decide import Decider, model_for, shipped_for
from larkdou.decision.examples import Evaluation, read_labels, split_labels
from larkdou.kb.index import KnowledgeBase

REASONS = {"model": "decided by the model", "chitchat": "chit-chat (never answered)",
           "too_short": "fewer than 2 content words (never answered)"}


def explain_text(kb: KnowledgeBase, text: str, threshold: float | None) -> None:
    """Each signal, its weight and contribution, and the verdict for one message."""
    decider = Decider.for_kb(kb, threshold)
    v = decider.decide(text)
    click.echo(f"message: {text}")
    click.echo(f"model: {decider.model.name}")
    if v.why != "model":
        click.echo(f"decision: stay silent ({REASONS[v.why]})")
        return
    weights = decider.model.weights
    click.echo(f"{'signal':<18}{'value':>8}{'weight':>9}{'contribution':>14}")
    for name in sorted(v.signals, key=lambda n: (n not in weights, -abs(weights.get(n, 0.0) * v.signals[n]))):
        w = weights.get(name)
        shown = f"{w:+9.3f}{w * v.signals[name]:+14.3f}" if w is not None else f"{'-':>9}{'(not used)':>14}"
        click.echo(f"{name:<18}{v.signals[name]:8.3f}{shown}")
    click.echo(f"{'bias':<18}{'':8}{'':9}{decider.model.bias:+14.3f}")
    click.echo(f"answer probability {v.probability:.3f}, threshold {v.threshold:.3f}: "
               f"{'answer' if v.answer else 'stay silent'}")


def _print(ev: Evaluation, label: str) -> None:
    s = ev.scores
    click.echo(f"{label}: {s.total} messages; precision {s.precision:.3f}  recall {s.recall:.3f}  F1 {s.f1:.3f}")
    click.echo(f"  answered correctly (TP) {s.tp}  answered wrongly (FP) {s.fp}  "
               f"silent correctly (TN) {s.tn}  missed (FN) {s.fn}")
    for why, part in sorted(ev.by_reason.items()):
        click.echo(f"  {REASONS.get(why, why)}: TP {part.tp}  FP {part.fp}  TN {part.tn}  FN {part.fn}")


def report_labels(kb: KnowledgeBase, path: Path, split: float | None, threshold: float | None, verbose: bool) -> None:
    labelled = read_labels(path)
    decider = Decider.for_kb(kb, threshold)
    if split is None:
        click.echo(f"decision: model {decider.model.name}, threshold {decider.threshold:.3f}")
        ev = decider.evaluate(labelled)
        _print(ev, "all labels")
    else:
        used, held = split_labels(labelled, split)
        if not held or not used:
            raise click.UsageError(f"--split {split}: one part would be empty ({len(used)} / {len(held)} messages)")
        good = [t for t, label in used if label]
        bad = [t for t, label in used if not label]
        adj = adjust(kb, good, bad)
        for line in adj.describe():
            click.echo(line, err=line.startswith("warning"))
        base = shipped_for(kb)
        click.echo(f"adjusted on {len(used)} messages, reported on the other {len(held)}:")
        _print(Decider(kb, base, threshold, decider.ref).evaluate(held), "shipped model")
        tuned = base.adjusted(bias=adj.bias, weights=adj.weights, threshold=adj.threshold)
        ev = Decider(kb, tuned, threshold, decider.ref).evaluate(held)
        _print(ev, "adjusted on the other part" if adj.source == "examples" else "adjusted (kept the shipped model)")
        if model_for(kb).name != base.name:
            _print(decider.evaluate(held), "as built (the index's own adjustment)")
    if verbose:
        for text, label, answered, p, why in ev.rows:
            if answered != label:
                click.echo(f"{'FP' if answered else 'FN'} {p:.3f} {why:<9} {text}")
