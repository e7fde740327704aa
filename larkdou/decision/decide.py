"""Should the bot speak? The answer/silence decision for a group message nobody addressed to it.

`Decider.for_kb(kb)` takes the shipped model (the dense one when the index has embeddings) with the
adjustment `larkdou kb build --good/--bad` stored in the index's manifest, and `[kb] threshold`
when set. `decide(text)` computes the signals and returns a `Verdict`; it is synchronous CPU work
(a BM25 search, and an embedding with dense indexes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from larkdou.decision.evidence import Reference, reference, retrieval_signals
from larkdou.decision.examples import Evaluation
from larkdou.decision.model import DIRECTION_SCALE, Model, kind_for, shipped
from larkdou.decision.signals import text_signals
from larkdou.kb.chitchat import is_chitchat
from larkdou.kb.index import KnowledgeBase
from larkdou.kb.tokens import tokenize

MIN_WORDS = 2  # fewer distinct content words ("redis", "fetch?") is never a question for the room


@dataclass
class Verdict:
    answer: bool
    probability: float
    threshold: float
    signals: dict[str, float] = field(default_factory=dict)
    model: str = ""
    why: str = "model"  # "model", "chitchat", "too_short", or "llm_check" (the LLM had the last word)

    @property
    def margin(self) -> float:
        return self.probability - self.threshold


def model_for(kb: KnowledgeBase) -> Model:
    """The shipped model for this index, with the adjustment stored at build time (if any)."""
    base = shipped_for(kb)
    stored: dict[str, Any] = kb.manifest.get("decision") or {}
    if stored.get("source") == "examples" and stored.get("model") == base.name:
        return base.adjusted(bias=stored["bias"], weights=stored["weights"], threshold=stored["threshold"],
                             name=f"{base.name}+examples")
    return base


def shipped_for(kb: KnowledgeBase) -> Model:
    """The shipped model that fits this index (see `larkdou.decision.model`)."""
    return shipped(kind_for(kb.manifest.get("embedding") if kb.dense else None))


def signals_of(kb: KnowledgeBase, ref: Reference, text: str, *, mentions_someone: bool | None = None,
               direction: list[float] | None = None, qvec: np.ndarray | None = None) -> dict[str, float]:
    """Every signal of `text`: the text signals, the knowledge base's (relative to `ref`), and with a
    `direction` (e5) the message vector's projection on it. `qvec`: the message's vector, if known."""
    out = text_signals(text)
    if mentions_someone is not None:
        out["mentions_someone"] = 1.0 if mentions_someone else 0.0
    if kb.dense and qvec is None:
        qvec = kb.query_vector(text)
    out.update(retrieval_signals(kb, text, ref, qvec=qvec))
    if direction is not None and qvec is not None and len(direction) == len(qvec):
        out["dense_question"] = DIRECTION_SCALE * float(np.dot(qvec, np.asarray(direction, dtype=np.float32)))
    return out


class Decider:
    """The decision for one knowledge base. Thread-safe; holds no per-message state. Creating one
    measures the knowledge base's baseline (`evidence.reference`)."""

    def __init__(self, kb: KnowledgeBase, model: Model, threshold: float | None = None,
                 ref: Reference | None = None):
        self.kb = kb
        self.model = model
        self.threshold = model.threshold if threshold is None else threshold
        self.ref = reference(kb) if ref is None else ref

    @classmethod
    def for_kb(cls, kb: KnowledgeBase, threshold: float | None = None) -> "Decider":
        return cls(kb, model_for(kb), threshold)

    def decide(self, text: str, *, addressed: bool = False, mentions_someone: bool | None = None) -> Verdict:
        """The verdict for `text` (the message without @mentions)."""
        if is_chitchat(text):
            return Verdict(False, 0.0, self.threshold, model=self.model.name, why="chitchat")
        if not addressed and len(set(tokenize(text))) < MIN_WORDS:
            return Verdict(False, 0.0, self.threshold, model=self.model.name, why="too_short")
        sig = signals_of(self.kb, self.ref, text, mentions_someone=mentions_someone, direction=self.model.direction)
        p = self.model.probability(sig, addressed)
        return Verdict(p >= self.threshold, p, self.threshold, sig, self.model.name)

    def evaluate(self, labelled: list[tuple[str, bool]]) -> Evaluation:
        """The verdicts on labelled messages (as unaddressed group messages), with confusion counts."""
        out = Evaluation()
        for text, label in labelled:
            v = self.decide(text)
            out.add(text, label, v.answer, v.probability, v.why)
        return out
