"""Stored deadlines a calendar change may move, and moving one together with its obsolete delay records.

Every delay record states the deadline and lateness it was measured against, so a moved deadline
makes all of a delivery's records obsolete. They are moved (never edited) to ``superseded_delays``
with the old and new deadline, in the same transaction as the move, and ``deadline_changed_at``
tells the delay monitor to derive the delivery's records again against the new deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syndicator.store.base import StoreBase, required_time
from syndicator.store.db import as_datetime

_CANDIDATE = (
    "SELECT d.id, i.source_id, COALESCE(d.anchor_at, i.anchor_at) AS anchor_at, d.deadline_at,"
    " d.deadline_provisional FROM deliveries d JOIN items i ON i.id = d.item_id"
)


@dataclass(frozen=True, slots=True)
class StoredDeadline:
    delivery_id: int
    source_id: str
    anchor_at: datetime      # the delivery's own anchor (a re-send's is the update's detection time)
    deadline_at: datetime
    provisional: bool


@dataclass(frozen=True, slots=True)
class SupersededDelay:
    """A delay record made obsolete by a moved deadline, as archived."""

    delivery_id: int
    kind: str
    recorded_at: datetime
    reason: str
    late_clock_hours: float
    late_working_hours: float
    unit_id: str
    account_id: str
    channel_kind: str
    item_title: str
    old_deadline_at: datetime
    new_deadline_at: datetime
    superseded_at: datetime
    why: str


def _stored(r: dict[str, Any]) -> StoredDeadline:
    return StoredDeadline(r["id"], r["source_id"], required_time(r["anchor_at"]),
                          required_time(r["deadline_at"]), bool(r["deadline_provisional"]))


class DeadlinesMixin(StoreBase):
    async def deadline_candidates(self, window: tuple[datetime, datetime] | None = None) -> list[StoredDeadline]:
        """Every delivery with a provisional deadline, open or finished, plus (when ``window`` is
        given) every delivery whose span from anchor to deadline overlaps it."""
        rows = await self.db.fetch(f"{_CANDIDATE} WHERE d.deadline_provisional = TRUE ORDER BY d.id")
        if window is not None:
            rows += await self.db.fetch(
                f"{_CANDIDATE} WHERE d.deadline_at >= ? AND COALESCE(d.anchor_at, i.anchor_at) < ?"
                " AND d.deadline_provisional = FALSE ORDER BY d.id", *window)
        return [_stored(r) for r in rows]

    async def move_deadline(self, delivery_id: int, old: datetime, new: datetime, provisional: bool,
                            now: datetime, why: str) -> list[SupersededDelay] | None:
        """Set the deadline (and provisional flag) if it is still ``old``; None when another hub got
        there first. When the deadline itself moves, its delay records are superseded and returned."""
        async with self.db.transaction() as tx:
            if new == old:
                changed = await tx.execute(
                    "UPDATE deliveries SET deadline_provisional = ? WHERE id = ? AND deadline_at = ?",
                    provisional, delivery_id, old)
                return [] if changed else None
            changed = await tx.execute(
                "UPDATE deliveries SET deadline_at = ?, deadline_provisional = ?, deadline_changed_at = ?"
                " WHERE id = ? AND deadline_at = ?", new, provisional, now, delivery_id, old)
            if not changed:
                return None
            rows = await tx.fetch(
                "SELECT r.*, d.unit_id, d.account_id, d.channel_kind, i.title FROM delay_records r"
                " JOIN deliveries d ON d.id = r.delivery_id JOIN items i ON i.id = d.item_id"
                " WHERE r.delivery_id = ? ORDER BY r.id", delivery_id)
            if not rows:
                return []
            await tx.executemany(
                "INSERT INTO superseded_delays (delivery_id, kind, recorded_at, reason, late_clock_hours,"
                " late_working_hours, old_deadline_at, new_deadline_at, superseded_at, why)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(delivery_id, r["kind"], as_datetime(r["recorded_at"]), r["reason"], r["late_clock_hours"],
                  r["late_working_hours"], old, new, now, why) for r in rows])
            await tx.execute("DELETE FROM delay_records WHERE delivery_id = ?", delivery_id)
        return [SupersededDelay(
            delivery_id, r["kind"], required_time(r["recorded_at"]), r["reason"],
            r["late_clock_hours"], r["late_working_hours"], r["unit_id"], r["account_id"], r["channel_kind"],
            r["title"], old, new, now, why) for r in rows]

    async def superseded_delays(self, delivery_id: int | None = None) -> list[SupersededDelay]:
        """The archive of obsolete delay records (for an inspector asking what changed and why)."""
        where, args = ("WHERE s.delivery_id = ?", [delivery_id]) if delivery_id is not None else ("", [])
        rows = await self.db.fetch(
            "SELECT s.*, d.unit_id, d.account_id, d.channel_kind, i.title FROM superseded_delays s"
            f" JOIN deliveries d ON d.id = s.delivery_id JOIN items i ON i.id = d.item_id {where} ORDER BY s.id",
            *args)
        t = required_time
        return [SupersededDelay(
            r["delivery_id"], r["kind"], t(r["recorded_at"]), r["reason"], r["late_clock_hours"],
            r["late_working_hours"], r["unit_id"], r["account_id"], r["channel_kind"], r["title"],
            t(r["old_deadline_at"]), t(r["new_deadline_at"]), t(r["superseded_at"]), r["why"])
            for r in rows]
