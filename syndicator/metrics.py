"""Prometheus text exposition (format 0.0.4) of the hub's state, computed from the store on scrape.

A handful of gauges does not justify a client library whose collectors are synchronous while
our store is not; the format is documented at https://prometheus.io/docs/instrumenting/exposition_formats/.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.models import DeliveryState


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        self.name = name

    def add(self, value: float, **labels: str) -> None:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        self.lines.append(f"{self.name}{{{label_text}}} {value:g}" if label_text else f"{self.name} {value:g}")


async def render_metrics(hub: Any) -> str:
    store, now = hub.store, hub.clock.now()
    families: list[_Family] = []

    def family(name: str, kind: str, help_text: str) -> _Family:
        f = _Family(name, kind, help_text)
        families.append(f)
        return f

    counts = await store.state_counts()
    by_state = family("syndicator_deliveries", "gauge", "Deliveries by state.")
    for state in DeliveryState:
        by_state.add(counts.get(state.value, 0), state=state.value)
    overdue, soon = await store.deadline_counts(now, now + timedelta(hours=hub.settings.deadlines.at_risk_hours))
    family("syndicator_deliveries_overdue", "gauge", "Open deliveries past their deadline.").add(overdue)
    family("syndicator_deliveries_at_risk", "gauge", "Open deliveries due within the at-risk margin.").add(soon)
    family("syndicator_deliveries_possible_duplicate", "gauge",
           "Deliveries that may have reached their platform twice (a blind re-send after a crash).").add(
        await store.possible_duplicate_count())
    family("syndicator_items_merged_copies", "gauge",
           "Upstream copies merged into an existing item (same URL, guid, document number or content).").add(
        await store.merge_count())
    family("syndicator_deliveries_in_flight", "gauge", "Sends in flight in this process.").add(hub.dispatcher.in_flight)
    verify = family("syndicator_deliveries_verify", "gauge",
                    "Delivered reprints by live verification state (none: delivered before verification existed).")
    verify_counts = await store.verify_state_counts()
    for state in ("none", "pending", "verified", "not_visible", "unverifiable", "gone"):
        verify.add(verify_counts.get(state, 0), state=state)
    family("syndicator_verifications_total", "counter", "Public-page checks made by this process.").add(
        hub.verifier.done)
    delays = family("syndicator_delay_records", "gauge", "Delay records on file, by kind.")
    for kind, n in sorted((await store.delay_counts()).items()):
        delays.add(n, kind=kind)
    errors = family("syndicator_source_consecutive_errors", "gauge", "Consecutive failed polls per source.")
    success = family("syndicator_source_last_success_timestamp_seconds", "gauge", "Last successful poll.")
    empty = family("syndicator_source_empty", "gauge", "1 while a source reads fine but lists no entries.")
    for health in await store.all_source_health():
        errors.add(health.consecutive_errors, source=health.source_id)
        empty.add(int(health.empty_since is not None), source=health.source_id)
        if health.last_success_at is not None:
            success.add(health.last_success_at.timestamp(), source=health.source_id)
    blocked = family("syndicator_account_blocked", "gauge", "Accounts paused or needing re-authorisation.")
    for account_id, (state, _reason) in sorted((await store.account_states()).items()):
        if state != "active":
            blocked.add(1, account=account_id, state=state)
    warnings = hub.calendar.warnings(now.astimezone(hub.settings.deadlines.tz).date())
    family("syndicator_calendar_warnings", "gauge", "Years whose holiday arrangement is not loaded.").add(len(warnings))
    refused = family("syndicator_requests_refused_total", "counter",
                     "Inbound requests refused by this process, by door and reason.")
    for (door, reason, account), n in sorted(getattr(hub, "refusals", {}).items()):
        refused.add(n, door=door, reason=reason, **({"account": account} if account else {}))
    loops = hub.supervisor.snapshot()
    healthy = family("syndicator_loop_healthy", "gauge", "1 when the loop completed a pass within its interval.")
    failures = family("syndicator_loop_consecutive_failures", "gauge", "Failed passes in a row, per loop.")
    last_ok = family("syndicator_loop_last_success_timestamp_seconds", "gauge", "Last successful pass, per loop.")
    for name, loop in sorted(loops.items()):
        healthy.add(0 if loop["problem"] else 1, loop=name)
        failures.add(loop["failures"], loop=name)
        if loop["last_ok"] is not None:
            last_ok.add(loop["last_ok"].timestamp(), loop=name)
    family("syndicator_claims_fenced_total", "counter",
           "Outcome writes and sends dropped because another hub had taken the claim over.").add(
        hub.dispatcher.claims.fenced)
    family("syndicator_outcome_write_failures_total", "counter",
           "Outcome writes that failed (store unreachable) and were retried.").add(hub.dispatcher.claims.write_failures)
    return "\n".join(line for f in families for line in f.lines) + "\n"
