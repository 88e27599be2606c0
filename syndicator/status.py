"""One picture of the hub's state, shared by `main.py status`, the JSON API and the console."""

from __future__ import annotations

from typing import Any

from core.clock import Clock
from core.models import OPEN_STATES
from syndicator.calendar import WorkCalendar
from syndicator.config import Settings
from syndicator.health import hub_health, readiness
from syndicator.labels import state_label
from syndicator.source_empty import health_state
from syndicator.store import Store
from syndicator.supervisor import Supervisor


async def collect_status(store: Store, settings: Settings, calendar: WorkCalendar, clock: Clock) -> dict[str, Any]:
    now = clock.now()
    tz = settings.deadlines.tz
    counts = await store.state_counts()
    oldest = await store.oldest_open()
    accounts = await store.account_states()
    sources = []
    for health in await store.all_source_health():
        sources.append({
            "source": health.source_id,
            "state": health_state(health),
            "empty_reason": health.empty_reason,
            "last_success_at": health.last_success_at,
            "consecutive_errors": health.consecutive_errors,
            "last_error": health.last_error,
            "failing_since": health.failing_since,
            "next_check_at": health.next_check_at,
            "items_seen": health.items_seen,
        })
    return {
        "now": now.astimezone(tz).isoformat(),
        "deliveries": counts,
        "open": sum(counts.get(state, 0) for state in OPEN_STATES),
        "oldest_open": None if oldest is None else {
            "id": oldest.id, "account": oldest.account_id, "state": oldest.state.value,
            "state_label": state_label(oldest.state),
            "deadline_at": oldest.deadline_at.astimezone(tz).isoformat(),
            "overdue": oldest.deadline_at < now,
        },
        "accounts_blocked": {a: {"state": s, "reason": r} for a, (s, r) in accounts.items() if s != "active"},
        "sources": sources,
        "possible_duplicates": await store.possible_duplicate_count(),
        "merged_copies": {"count": await store.merge_count(), "recent": [
            {**m, "merged_at": m["merged_at"].astimezone(tz).isoformat() if m["merged_at"] else None}
            for m in await store.merges(limit=10)]},
        "calendar_warnings": calendar.warnings(now.astimezone(tz).date()),
        "alerts": [{"at": a["at"], "subject": a["subject"], "message": a["message"]}
                   for a in await store.recent_alerts(10)],
        "hubs": hub_health(await store.hubs(), now),
    }


async def status_report(store: Store, settings: Settings, calendar: WorkCalendar, clock: Clock,
                        supervisor: Supervisor) -> dict[str, Any]:
    """``collect_status`` plus this process's loops, live rather than as last beaten (the API and the console)."""
    report = await collect_status(store, settings, calendar, clock)
    report["health"] = await readiness(supervisor, store, settings.hub.instance_id)
    return report
