"""The assistant's Prometheus metrics, on a registry of their own (several assistants share one
process in tests and in the demo). The worker and the recall procedure update them; the HTTP API
renders them on `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class AssistantMetrics:
    """Counters the worker and the recall procedure update; `/metrics` renders them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.answered = Counter("larkdou_answered", "Messages answered in a chat", registry=r)
        self.skipped = Counter("larkdou_skipped", "Messages handled without an answer", ["reason"], registry=r)
        self.recalled = Counter("larkdou_recalled", "Bot messages recalled", registry=r)
        self.recall_commands = Counter("larkdou_recall_commands", "Recall commands carried out", registry=r)
        self.recall_too_old = Counter("larkdou_recall_too_old", "Bot messages past the recall window",
                                      registry=r)
        self.send_failures = Counter("larkdou_send_failures", "Lark API calls that failed for good",
                                     ["code"], registry=r)
        self.streamed = Counter("larkdou_streamed_answers", "Answers streamed into a card while an LLM wrote them",
                                registry=r)
        self.card_updates = Counter("larkdou_card_updates", "Updates sent to cards being streamed", registry=r)
        self.resumed = Counter("larkdou_answers_resumed", "Unfinished answers (a crash between parts or mid-stream) "
                               "finished when their message came back", registry=r)
        self.answer_latency = Histogram(
            "larkdou_answer_latency_seconds", "From taking a message to its answer being sent",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80), registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
