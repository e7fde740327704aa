"""Answer pipeline behind the `Answerer` interface."""

from larkdou.answer.base import Answerer, Decision

__all__ = ["Answerer", "Decision"]
