"""Queries behind the delay monitor and the reports: deliveries with the facts that explain them.

Every query leads with ``state IN (...)`` and a ``deadline_at`` range so it runs on the
``deliveries_due (state, deadline_at, id)`` index; "already recorded?" checks go through the
``delay_records UNIQUE (delivery_id, kind)`` index. Percentiles are left to Python (not portable SQL).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.models import ALL_STATES, FINAL_STATES, OPEN_STATES
from syndicator.store.base import StoreBase, marks, required_time
from syndicator.store.db import Row, as_datetime

FACT_COLUMNS = (
    "SELECT d.id, d.item_id, d.unit_id, d.account_id, d.channel_kind, d.state, d.deadline_at,"
    " d.deadline_provisional, d.attempts, d.next_attempt_at, d.delivered_at, d.last_error, d.note,"
    " d.possible_duplicate, d.ambiguous, d.updated_at, i.title, i.source_id, i.published_at, i.detected_at,"
    " i.published_raw, i.date_problem, i.detection_note,"
    " COALESCE(d.anchor_at, i.anchor_at) AS anchor_at, COALESCE(d.anchor_kind, i.anchor_kind) AS anchor_kind,"
    " a.state AS account_state, a.reason AS account_reason"
)
FACT_JOIN = " JOIN items i ON i.id = d.item_id LEFT JOIN accounts a ON a.account_id = d.account_id"
_NOT_RECORDED = (  # the record a finished delivery should have is not there yet
    " AND (d.state <> 'delivered' OR d.delivered_at > d.deadline_at) AND NOT EXISTS (SELECT 1 FROM delay_records r"
    " WHERE r.delivery_id = d.id AND r.kind = CASE WHEN d.state = 'delivered' THEN 'delivered_late' ELSE d.state END)"
)
# Attempt outcomes whose detail is a reason in Chinese (accepted/delivered details are receipts, not causes).
_ERROR_OUTCOMES = {"retry", "failed", "held", "interrupted"}


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    """A delivery joined with its item and account: everything a delay reason is built from."""

    id: int
    item_id: int
    unit_id: str
    account_id: str
    channel_kind: str
    state: str
    deadline_at: datetime
    provisional: bool
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    note: str | None
    possible_duplicate: bool
    ambiguous: bool
    updated_at: datetime
    title: str
    source_id: str
    published_at: datetime | None
    detected_at: datetime
    anchor_at: datetime     # this delivery's (a re-send's is the update's detection, kind "updated")
    anchor_kind: str
    account_state: str | None
    account_reason: str | None
    published_raw: str = ""         # upstream date text, kept when it could not be read
    date_problem: str | None = None
    detection_note: str | None = None   # the source's health while a tracked item went undetected


@dataclass(slots=True)
class AttemptHistory:
    """What the attempts table says about one delivery: when sending began and what went wrong."""

    first_started_at: datetime | None = None
    errors: Counter[str] = field(default_factory=Counter)  # reason -> times, in first-seen order


def delivery_facts_of(r: Row) -> DeliveryFacts:
    t, must = as_datetime, required_time
    return DeliveryFacts(
        id=r["id"], item_id=r["item_id"], unit_id=r["unit_id"], account_id=r["account_id"],
        channel_kind=r["channel_kind"], state=r["state"], deadline_at=must(r["deadline_at"]),
        provisional=bool(r["deadline_provisional"]), attempts=r["attempts"], next_attempt_at=t(r["next_attempt_at"]),
        delivered_at=t(r["delivered_at"]), last_error=r["last_error"], note=r["note"],
        possible_duplicate=bool(r["possible_duplicate"]), ambiguous=bool(r["ambiguous"]),
        updated_at=must(r["updated_at"]), title=r["title"], source_id=r["source_id"],
        published_at=t(r["published_at"]), detected_at=must(r["detected_at"]),
        anchor_at=must(r["anchor_at"]), anchor_kind=r["anchor_kind"],
        account_state=r["account_state"], account_reason=r["account_reason"],
        published_raw=r["published_raw"] or "", date_problem=r["date_problem"],
        detection_note=r.get("detection_note"),
    )


class ReportsMixin(StoreBase):
    async def open_due(self, now: datetime, horizon: datetime) -> list[DeliveryFacts]:
        """Open deliveries due by ``horizon`` (inclusive: at risk starts exactly at_risk_hours before the
        deadline) still lacking the record they now deserve (overdue once past the deadline, else at_risk)."""
        rows = await self.db.fetch(
            f"{FACT_COLUMNS} FROM deliveries d{FACT_JOIN}"
            f" WHERE d.state IN ({marks(OPEN_STATES)}) AND d.deadline_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM delay_records r WHERE r.delivery_id = d.id AND r.kind = 'overdue')"
            " AND (d.deadline_at < ? OR NOT EXISTS"
            "  (SELECT 1 FROM delay_records r WHERE r.delivery_id = d.id AND r.kind = 'at_risk'))"
            " ORDER BY d.deadline_at, d.id", *OPEN_STATES, horizon, now)
        return [delivery_facts_of(r) for r in rows]

    async def finished_unrecorded(self, deadline_since: datetime, overdue_since: datetime) -> list[DeliveryFacts]:
        """Late-delivered, failed and skipped deliveries without their record yet.

        Three index-friendly paths: deadlines since ``deadline_since`` (everything finished since the
        last scan whose deadline was not yet past then), deliveries already recorded overdue since
        ``overdue_since`` (finished long after their deadline, e.g. skipped after weeks held), and
        deadlines moved by a recomputation since ``deadline_since`` (their old records were superseded).
        """
        recent = await self.db.fetch(
            f"{FACT_COLUMNS} FROM deliveries d{FACT_JOIN}"
            f" WHERE d.state IN ({marks(FINAL_STATES)}) AND d.deadline_at >= ?"
            f"{_NOT_RECORDED}", *FINAL_STATES, deadline_since)
        stragglers = await self.db.fetch(
            f"{FACT_COLUMNS} FROM delay_records o JOIN deliveries d ON d.id = o.delivery_id{FACT_JOIN}"
            f" WHERE o.kind = 'overdue' AND o.recorded_at >= ? AND d.state IN ({marks(FINAL_STATES)})"
            f"{_NOT_RECORDED}", overdue_since, *FINAL_STATES)
        moved = await self.db.fetch(
            f"{FACT_COLUMNS} FROM deliveries d{FACT_JOIN}"
            f" WHERE d.deadline_changed_at >= ? AND d.state IN ({marks(FINAL_STATES)})"
            f"{_NOT_RECORDED}", deadline_since, *FINAL_STATES)
        seen: dict[int, DeliveryFacts] = {}
        for r in (*recent, *stragglers, *moved):
            seen.setdefault(r["id"], delivery_facts_of(r))
        return sorted(seen.values(), key=lambda f: (f.deadline_at, f.id))

    async def attempt_history(self, delivery_ids: list[int]) -> dict[int, AttemptHistory]:
        if not delivery_ids:
            return {}
        rows = await self.db.fetch(
            "SELECT delivery_id, started_at, outcome, detail FROM attempts"
            f" WHERE delivery_id IN ({marks(delivery_ids)}) ORDER BY delivery_id, id", *delivery_ids)
        out: dict[int, AttemptHistory] = {}
        for r in rows:
            h = out.setdefault(r["delivery_id"], AttemptHistory())
            if h.first_started_at is None:
                h.first_started_at = as_datetime(r["started_at"])
            if r["outcome"] in _ERROR_OUTCOMES:
                h.errors[r["detail"] or "进程中断时正在发送，结果待核实"] += 1
        return out

    async def month_counts(self, start: datetime, end: datetime, now: datetime) -> list[Row]:
        """Per unit and channel kind, deliveries whose deadline is in (start, end].

        The interval is open at the start: a deadline of "day 31 24:00" is stored as the next
        month's 00:00 and belongs to the month it closes. Missing = neither delivered nor skipped
        with the deadline already past ``now`` (failed, retrying, held or never sent alike); a
        failed delivery whose deadline is still ahead is not missing yet (a person can still retry).
        """
        # Baselines (published before the source was tracked, syndicator.anchors) are counted apart only.
        assessed = "COALESCE(anchor_kind, '') <> 'baseline' AND "
        return await self.db.fetch(
            "SELECT unit_id, channel_kind, COUNT(*) AS n_required,"
            f" SUM(CASE WHEN {assessed}state = 'delivered' AND delivered_at <= deadline_at THEN 1 ELSE 0 END)"
            "  AS n_on_time,"
            f" SUM(CASE WHEN {assessed}state = 'delivered' AND delivered_at > deadline_at THEN 1 ELSE 0 END) AS n_late,"
            f" SUM(CASE WHEN {assessed}state = 'skipped' THEN 1 ELSE 0 END) AS n_skipped,"
            f" SUM(CASE WHEN {assessed}state NOT IN ('delivered', 'skipped') AND deadline_at < ? THEN 1 ELSE 0 END)"
            "  AS n_missing,"
            " SUM(CASE WHEN anchor_kind = 'baseline' THEN 1 ELSE 0 END) AS n_baseline,"
            " SUM(CASE WHEN possible_duplicate = ? THEN 1 ELSE 0 END) AS n_possible_duplicate"
            f" FROM deliveries WHERE state IN ({marks(ALL_STATES)}) AND deadline_at > ? AND deadline_at <= ?"
            " GROUP BY unit_id, channel_kind ORDER BY unit_id, channel_kind", now, True, *ALL_STATES, start, end)

    async def possible_duplicate_count(self) -> int:
        """Deliveries that may have reached their platform twice (a blind re-send after a crash)."""
        return int(await self.db.fetchval(
            "SELECT COUNT(*) AS n FROM deliveries WHERE possible_duplicate = ?", True) or 0)

    async def month_late(self, start: datetime, end: datetime) -> list[tuple[str, str, str, datetime, datetime]]:
        """(unit, channel kind, source, deadline, delivered_at) of late deliveries with a deadline in (start, end]."""
        rows = await self.db.fetch(
            "SELECT d.unit_id, d.channel_kind, i.source_id, d.deadline_at, d.delivered_at FROM deliveries d"
            " JOIN items i ON i.id = d.item_id WHERE d.state = 'delivered' AND d.deadline_at > ?"
            " AND COALESCE(d.anchor_kind, '') <> 'baseline'"
            " AND d.deadline_at <= ? AND d.delivered_at > d.deadline_at"
            " ORDER BY d.unit_id, d.channel_kind, d.deadline_at", start, end)
        return [(r["unit_id"], r["channel_kind"], r["source_id"], required_time(r["deadline_at"]),
                 required_time(r["delivered_at"])) for r in rows]

    async def change_marks(self) -> tuple[Any, ...]:
        """Cheap marks that move whenever what the live dashboard pages show moves: deliveries per state and
        their latest update, the newest alert and how many are acknowledged, the latest account change.
        Only compared with the previous marks (syndicator.dashboard.live), never shown."""
        states = await self.db.fetch("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state ORDER BY state")
        d = await self.db.fetchone("SELECT MAX(updated_at) AS at, SUM(attempts) AS tries FROM deliveries")
        a = await self.db.fetchone("SELECT MAX(id) AS id, COUNT(acked_at) AS acked FROM alerts")
        s = await self.db.fetchone("SELECT COUNT(*) AS n, MAX(changed_at) AS at FROM accounts")
        return (tuple((r["state"], r["n"]) for r in states), d["at"], d["tries"], a["id"], a["acked"], s["n"], s["at"])
