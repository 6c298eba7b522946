"""Prometheus metrics: what this process did (deliveries, passes) and, from the read model at
each scrape, where things stand (environments by state, the queue, GitHub's limit)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pullrekun.adapters.github.client import RequestStats
from pullrekun.adapters.state.store import Store
from pullrekun.app.counts import counts
from pullrekun.app.trigger import PassTrigger


class Metrics:
    """Prometheus metrics: what this process did (deliveries, passes) and, read from the state
    DB at each scrape, where things stand (environments by state, the queue, GitHub's limit)."""

    def __init__(self, trigger: PassTrigger, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "pullrekun_webhook_deliveries",
            "Webhook deliveries by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.passes = Gauge("pullrekun_passes", "Passes run by this process", registry=self.registry)
        self.passes.set_function(lambda: len(trigger.history))
        self.pending = Gauge(
            "pullrekun_pass_pending_pokes", "Pokes waiting for a pass", registry=self.registry
        )
        self.pending.set_function(lambda: trigger.pending)
        self.last_duration = Gauge(
            "pullrekun_pass_last_duration_seconds", "How long the last pass took", registry=self.registry
        )
        self.last_duration.set_function(
            lambda: (trigger.history[-1].finished - trigger.history[-1].started) if trigger.history else 0.0
        )
        self.pass_duration = Histogram(
            "pullrekun_pass_duration_seconds",
            "How long passes took",
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.github_requests = Counter(
            "pullrekun_github_requests", "GitHub requests made by passes", registry=self.registry
        )
        self.registry.register(_StateCollector(store))

    def observe_pass(self, seconds: float, github: RequestStats | None) -> None:
        self.pass_duration.observe(seconds)
        if github is not None:
            self.github_requests.inc(github.requests)


class _StateCollector(Collector):
    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        now = counts(self._store)
        environments = GaugeMetricFamily(
            "pullrekun_environments", "Environments by state (the state DB)", labels=["state"]
        )
        for state, count in sorted(now.environments.items()):
            environments.add_metric([state], count)
        yield environments
        yield GaugeMetricFamily("pullrekun_queue_length", "PRs waiting for an instance", value=now.queued)
        yield GaugeMetricFamily(
            "pullrekun_schema_drops_pending",
            "Schemas of closed environments waiting to be dropped",
            value=now.schema_drops,
        )
        yield GaugeMetricFamily(
            "pullrekun_instances_managed", "Live instances pullrekun launched", value=now.managed
        )
        launches = GaugeMetricFamily(
            "pullrekun_launches", "Launches not done yet: in flight, or failed and waiting", labels=["state"]
        )
        launches.add_metric(["in_flight"], now.launches_in_flight)
        launches.add_metric(["failed"], now.launches_failed)
        yield launches
        yield GaugeMetricFamily(
            "pullrekun_swept_last_day",
            "Instances the orphan sweep stopped and scale-in terminated in the last 24 hours",
            value=now.swept_last_day,
        )
        sleeping = GaugeMetricFamily(
            "pullrekun_environments_sleeping",
            "Environments asleep, by why (the last pass)",
            labels=["reason"],
        )
        for reason, count in sorted(now.sleeping.items()):
            sleeping.add_metric([reason], count)
        yield sleeping
        yield GaugeMetricFamily(
            "pullrekun_instance_hours_month",
            "Hours the pool's instances ran this month (UTC), as passes observed them",
            value=now.instance_hours_month,
        )
        if now.rate_remaining is not None:
            yield GaugeMetricFamily(
                "pullrekun_github_rate_limit_remaining",
                "GitHub requests left this hour, as the last pass saw",
                value=now.rate_remaining,
            )
