"""The decision model: a logistic regression over named signals, stored as a small JSON file.

    p(answer) = sigmoid(bias + sum(weight[s] * signal[s]) + (addressed_bonus if addressed))

The group bot answers when p >= threshold. Three models are shipped, fitted by
`larkdou.decision.train` (held-out report: `data/report.md`), one per kind of index:

    lexical  no embeddings: text signals and BM25 retrieval
    dense    embeddings from "local" or "api": also the best passage's cosine similarity
    e5       embeddings from "e5": also `dense_question`, the message's e5 vector projected on
             `direction` (the mean question minus the mean chatter of the training split), times 10

`addressed_bonus` is set by hand, not learned: a message addressed to the bot (a reply to it, say)
needs less evidence than a remark to the room.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from larkdou.errors import KnowledgeBaseError

DATA = Path(__file__).resolve().parent / "data"
SHIPPED = {kind: DATA / f"model-{kind}.json" for kind in ("lexical", "dense", "e5")}
DIRECTION_SCALE = 10.0


@dataclass(frozen=True)
class Model:
    name: str
    bias: float
    weights: dict[str, float]
    threshold: float  # answer when the probability is at least this
    addressed_bonus: float = 3.0
    notes: dict[str, Any] = field(default_factory=dict)
    direction: list[float] | None = None  # e5 only: the question-vs-chatter direction

    def logit(self, signals: dict[str, float], addressed: bool = False) -> float:
        z = self.bias + sum(w * float(signals.get(name, 0.0)) for name, w in self.weights.items())
        return z + (self.addressed_bonus if addressed else 0.0)

    def probability(self, signals: dict[str, float], addressed: bool = False) -> float:
        z = max(-35.0, min(35.0, self.logit(signals, addressed)))
        return 1.0 / (1.0 + math.exp(-z))

    def adjusted(self, *, bias: float | None = None, weights: dict[str, float] | None = None,
                 threshold: float | None = None, name: str | None = None) -> "Model":
        return replace(self, bias=self.bias if bias is None else bias,
                       weights=dict(self.weights if weights is None else weights),
                       threshold=self.threshold if threshold is None else threshold,
                       name=self.name if name is None else name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Model":
        try:
            return cls(name=str(data["name"]), bias=float(data["bias"]),
                       weights={str(k): float(v) for k, v in data["weights"].items()},
                       threshold=float(data["threshold"]), addressed_bonus=float(data.get("addressed_bonus", 3.0)),
                       notes=dict(data.get("notes", {})),
                       direction=[float(v) for v in data["direction"]] if data.get("direction") else None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KnowledgeBaseError(f"decision model: malformed ({type(exc).__name__}: {exc})") from None

    def save(self, path: Path) -> None:
        data = self.to_dict()
        direction = data.pop("direction")
        text = json.dumps(data, ensure_ascii=False, indent=1)
        if direction:  # one line, not 384
            text = text[:-2] + ',\n "direction": ' + json.dumps([round(v, 5) for v in direction]) + "\n}"
        path.write_text(text + "\n", encoding="utf-8")


def kind_for(embedding: str | None) -> str:
    """Which shipped model fits an index built with this `[kb] embedding` name (None: no embeddings)."""
    if not embedding:
        return "lexical"
    return "e5" if embedding.startswith("e5:") else "dense"


@lru_cache(maxsize=4)
def shipped(kind: str = "lexical") -> Model:
    """The model shipped with the package for this kind of index ("lexical", "dense" or "e5")."""
    path = SHIPPED[kind]
    try:
        return Model.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise KnowledgeBaseError(f"decision model {path}: unreadable ({exc})") from None
