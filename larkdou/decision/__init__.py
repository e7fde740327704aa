"""Should the bot speak? The answer/silence decision for group messages not addressed to it.

    decider = Decider.for_kb(kb)          # the shipped model (+ the index's adjustment), the kb's baseline
    verdict = decider.decide("这个参数怎么配置？")
    verdict.answer, verdict.probability, verdict.signals

Modules: `signals` (text signals), `evidence` (knowledge-base signals), `model` (the logistic model
and the shipped weights), `decide` (`Decider`), `adjust` (good/bad examples), `judge` (the answer
pipeline's view, with the LLM check), `examples` (example and label files), `train` and `corpus`
(how the shipped models were made), `fit` (logistic regression and F1/AUC in numpy).
"""

from larkdou.decision.decide import Decider, Verdict

__all__ = ["Decider", "Verdict"]
