"""What this process did since it started, as Prometheus counters and histograms.

Each server process has its own registry and /metrics shows only its own numbers; Prometheus
sums them over processes (docs/operations.md). Labels are limited to helpline ids and fixed
words (a sender, a start's status): never an id, token, address or text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# No `_created` series: they double the output and tell a scraper nothing it needs here.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds; a visitor's wait runs from seconds to an hour.
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)
ASSIGN_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300)


class Counters:
    """The process's counters; the switchboard and the realtime layer increment them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.assignments = Counter(
            "chatserver_assignments", "Visitors given to a counselor.", registry=r
        )
        # Made by the tick's safety net rather than by the event that should have made them.
        self.assignments_by_sweep = Counter(
            "chatserver_assignments_by_sweep",
            "Assignments made by the 1 s safety net rather than by the event that freed the "
            "slot or queued the visitor.",
            registry=r,
        )
        # Offers that went unconfirmed and were put back at the front of the queue.
        self.offers_withdrawn = Counter(
            "chatserver_offers_withdrawn",
            "Assignments a console did not confirm in time, put back at the front.",
            registry=r,
        )
        self.messages_relayed = Counter(
            "chatserver_messages_relayed",
            "New chat messages stored and relayed (retries of one message count once).",
            ["sender"],
            registry=r,
        )
        self.starts = Counter(
            "chatserver_starts",
            "Start requests by their answer: queued, closed, full or blocked.",
            ["helpline", "status"],
            registry=r,
        )
        self.closed_attempts = Counter(
            "chatserver_closed_attempts",
            "Start requests while the helpline was not accepting chats.",
            ["helpline"],
            registry=r,
        )
        self.requeues = Counter(
            "chatserver_requeues",
            "Chats put back in the queue after their counselor was lost.",
            ["helpline"],
            registry=r,
        )
        self.bus_publish_failures = Counter(
            "chatserver_bus_publish_failures",
            "Socket.IO events this process could not publish on the Redis bus.",
            registry=r,
        )
        self.redis_errors = Counter(
            "chatserver_redis_errors",
            "Requests and timer rounds that failed with a Redis error.",
            registry=r,
        )
        self.assignment_latency = Histogram(
            "chatserver_assignment_latency_seconds",
            "From a chat joining (or rejoining) the queue to its assignment to a counselor.",
            ["helpline"],
            buckets=ASSIGN_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "chatserver_queue_wait_seconds",
            "From a visitor's start to their first answer by a counselor.",
            ["helpline"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )

    def failed(self, exc: BaseException) -> None:
        """Count a failed request or timer round if Redis caused it."""
        if type(exc).__module__.split(".", 1)[0] == "redis":
            self.redis_errors.inc()
