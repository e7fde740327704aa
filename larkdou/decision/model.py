"""The decision model: a logistic regression over named signals, stored as a small JSON file.

    p(answer) = sigmoid(bias + sum(weight[s] * signal[s]) + (addressed_bonus if addressed))

The group bot answers when p >= threshold. The shipped models (`data/model-lexical.json`, and
`data/model-dense.json` for knowledge bases with embeddings) were fitted by `larkdou.decision.train`,
whose held-out report is `data/report.md`. `addressed_bonus` is set by hand, not learned: a message
addressed to the bot (a reply to it, say) needs less evidence than a remark to the room.
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
SHIPPED = {"lexical": DATA / "model-lexical.json", "dense": DATA / "model-dense.json"}


@dataclass(frozen=True)
class Model:
    name: str
    bias: float
    weights: dict[str, float]
    threshold: float  # answer when the probability is at least this
    addressed_bonus: float = 3.0
    notes: dict[str, Any] = field(default_factory=dict)

    def logit(self, signals: dict[str, float], addressed: bool = False) -> float:
        z = self.bias + sum(w * float(signals.get(name, 0.0)) for name, w in self.weights.items())
        return z + (self.addressed_bonus if addressed else 0.0)

    def probability(self, signals: dict[str, float], addressed: bool = False) -> float:
        z = max(-35.0, min(35.0, self.logit(signals, addressed)))
        return 1.0 / (1.0 + math.exp(-z))

    def contributions(self, signals: dict[str, float]) -> dict[str, float]:
        """Each signal's share of the logit (weight × value)."""
        return {name: w * float(signals.get(name, 0.0)) for name, w in self.weights.items()}

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
                       notes=dict(data.get("notes", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KnowledgeBaseError(f"decision model: malformed ({type(exc).__name__}: {exc})") from None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def shipped(kind: str = "lexical") -> Model:
    """The model shipped with the package: "lexical" (BM25 and text) or "dense" (also embeddings)."""
    path = SHIPPED[kind]
    try:
        return Model.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise KnowledgeBaseError(f"decision model {path}: unreadable ({exc})") from None
