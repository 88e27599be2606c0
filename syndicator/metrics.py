"""Prometheus exposition of the hub's state, computed from the store on scrape, by ``prometheus-client``.

The store is asynchronous and the library's collectors are not, so a scrape first reads every value, then hands
them to a one-scrape registry as metric families, with the library's process, platform and GC collectors beside
them. The library writes the text (and OpenMetrics when a scraper asks for it: ``choose_encoder``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.clock import Clock
from core.models import DeliveryState
from syndicator.calendar import WorkCalendar
from syndicator.config import Settings
from syndicator.dispatch import Dispatcher
from syndicator.store import Store
from syndicator.supervisor import Supervisor
from syndicator.verify.worker import Verifier


class _Read(Collector):
    """Families already read from the store: what one scrape reports."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


async def collect_metrics(store: Store, settings: Settings, calendar: WorkCalendar, clock: Clock,
                          supervisor: Supervisor, dispatcher: Dispatcher, verifier: Verifier,
                          refusals: Counter[tuple[str, str, str]]) -> CollectorRegistry:
    """A registry holding this scrape's values and the process metrics."""
    now = clock.now()
    families: list[Metric] = []
    counts = await store.state_counts()
    by_state = GaugeMetricFamily("syndicator_deliveries", "Deliveries by state.", labels=["state"])
    for state in DeliveryState:
        by_state.add_metric([state.value], counts.get(state.value, 0))
    overdue, soon = await store.deadline_counts(now, now + timedelta(hours=settings.deadlines.at_risk_hours))
    families += [
        by_state,
        _gauge("syndicator_deliveries_overdue", "Open deliveries past their deadline.", overdue),
        _gauge("syndicator_deliveries_at_risk", "Open deliveries due within the at-risk margin.", soon),
        _gauge("syndicator_deliveries_possible_duplicate",
               "Deliveries that may have reached their platform twice (a blind re-send after a crash).",
               await store.possible_duplicate_count()),
        _gauge("syndicator_items_merged_copies",
               "Upstream copies merged into an existing item (same URL, guid, document number or content).",
               await store.merge_count()),
        _gauge("syndicator_deliveries_in_flight", "Sends in flight in this process.", dispatcher.in_flight),
    ]
    verify = GaugeMetricFamily("syndicator_deliveries_verify", "Delivered reprints by live verification state "
                               "(none: delivered before verification existed).", labels=["state"])
    verify_counts = await store.verify_state_counts()
    for state in ("none", "pending", "verified", "not_visible", "unverifiable", "gone"):
        verify.add_metric([state], verify_counts.get(state, 0))
    delays = GaugeMetricFamily("syndicator_delay_records", "Delay records on file, by kind.", labels=["kind"])
    for kind, n in sorted((await store.delay_counts()).items()):
        delays.add_metric([kind], n)
    families += [verify, _counter("syndicator_verifications_total", "Public-page checks made by this process.",
                                  verifier.done), delays]
    errors = GaugeMetricFamily("syndicator_source_consecutive_errors", "Consecutive failed polls per source.",
                               labels=["source"])
    success = GaugeMetricFamily("syndicator_source_last_success_timestamp_seconds", "Last successful poll.",
                                labels=["source"])
    empty = GaugeMetricFamily("syndicator_source_empty", "1 while a source reads fine but lists no entries.",
                              labels=["source"])
    for health in await store.all_source_health():
        errors.add_metric([health.source_id], health.consecutive_errors)
        empty.add_metric([health.source_id], int(health.empty_since is not None))
        if health.last_success_at is not None:
            success.add_metric([health.source_id], health.last_success_at.timestamp())
    blocked = GaugeMetricFamily("syndicator_account_blocked", "Accounts paused or needing re-authorisation.",
                                labels=["account", "state"])
    for account_id, (state, _reason) in sorted((await store.account_states()).items()):
        if state != "active":
            blocked.add_metric([account_id, state], 1)
    warnings = calendar.warnings(now.astimezone(settings.deadlines.tz).date())
    refused = CounterMetricFamily("syndicator_requests_refused_total",
                                  "Inbound requests refused by this process, by door and reason.")
    for (door, reason, account), n in sorted(refusals.items()):
        # the callback's refusals name the account, the API's and the login's have none: label sets differ
        refused.add_sample("syndicator_requests_refused_total",
                           {"door": door, "reason": reason, **({"account": account} if account else {})}, n)
    families += [errors, success, empty, blocked,
                 _gauge("syndicator_calendar_warnings", "Years whose holiday arrangement is not loaded.",
                        len(warnings)), refused]
    healthy = GaugeMetricFamily("syndicator_loop_healthy", "1 when the loop completed a pass within its interval.",
                                labels=["loop"])
    failures = GaugeMetricFamily("syndicator_loop_consecutive_failures", "Failed passes in a row, per loop.",
                                 labels=["loop"])
    last_ok = GaugeMetricFamily("syndicator_loop_last_success_timestamp_seconds", "Last successful pass, per loop.",
                                labels=["loop"])
    for name, loop in sorted(supervisor.snapshot().items()):
        healthy.add_metric([name], 0 if loop["problem"] else 1)
        failures.add_metric([name], loop["failures"])
        if loop["last_ok"] is not None:
            last_ok.add_metric([name], loop["last_ok"].timestamp())
    families += [
        healthy, failures, last_ok,
        _counter("syndicator_claims_fenced_total",
                 "Outcome writes and sends dropped because another hub had taken the claim over.",
                 dispatcher.claims.fenced),
        _counter("syndicator_outcome_write_failures_total",
                 "Outcome writes that failed (store unreachable) and were retried.", dispatcher.claims.write_failures),
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Read(families))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


async def render_metrics(store: Store, settings: Settings, calendar: WorkCalendar, clock: Clock,
                         supervisor: Supervisor, dispatcher: Dispatcher, verifier: Verifier,
                         refusals: Counter[tuple[str, str, str]]) -> str:
    """The Prometheus text format (0.0.4) of ``collect_metrics``."""
    registry = await collect_metrics(store, settings, calendar, clock, supervisor, dispatcher, verifier, refusals)
    return generate_latest(registry).decode("utf-8")
