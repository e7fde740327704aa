"""Prometheus metrics of the gateway (one registry per app, so several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("larkdou_gateway_events_total", "Callback requests by outcome",
                              ["outcome"], registry=self.registry)
        self.rejected = Counter("larkdou_gateway_rejected_total", "Rejected callback requests by reason",
                                ["reason"], registry=self.registry)
        self.duplicates = Counter("larkdou_gateway_duplicates_total", "Events dropped as duplicates",
                                  registry=self.registry)
        self.ignored = Counter("larkdou_gateway_ignored_total", "Events of other types, by type",
                               ["event_type"], registry=self.registry)
        self.latency = Histogram("larkdou_gateway_event_seconds", "Time to handle one callback request",
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
                                 registry=self.registry)
        self.depth = Gauge("larkdou_gateway_queue_depth", "Messages waiting, per lane", ["lane"],
                           registry=self.registry)
        self.fetches = Counter("larkdou_gateway_fetches_total", "/fetch calls by result", ["result"],
                               registry=self.registry)
        self.acks = Counter("larkdou_gateway_acks_total", "Acked deliveries by result", ["result"],
                            registry=self.registry)
        self.extends = Counter("larkdou_gateway_extends_total", "Lease extensions by result", ["result"],
                               registry=self.registry)
        self.dead = Gauge("larkdou_gateway_dead_letters", "Messages parked in the dead-letter list "
                          "(`larkdou queue dead`)", registry=self.registry)
