"""Delay records: one per delivery and kind (at_risk, overdue, delivered_late, failed, skipped).

A record keeps its causes as JSON data beside the reason rendered from them (migration 17); a record
written before has none stored and reads back with its reason's cause part as one LEGACY cause.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.models import CauseKind, DelayCause, DelayKind, DelayRecord
from syndicator.labels import legacy_causes
from syndicator.store.base import StoreBase, marks, required_time
from syndicator.store.db import as_datetime


def causes_json(causes: Sequence[DelayCause]) -> str:
    return json.dumps([{"kind": c.kind.value, "facts": c.facts} for c in causes], ensure_ascii=False)


def causes_from_row(stored: str | None, reason: str) -> tuple[DelayCause, ...]:
    """The stored causes; for a row from before causes were data (NULL), its prose as one LEGACY cause."""
    if stored is None:
        return legacy_causes(reason)
    return tuple(DelayCause(CauseKind(c["kind"]), dict(c.get("facts") or {})) for c in json.loads(stored))


class DelaysMixin(StoreBase):

    async def add_delay(self, record: DelayRecord) -> bool:
        """Record a delay once; False when this delivery already has a record of this kind."""
        changed = await self.db.execute(
            "INSERT INTO delay_records (delivery_id, kind, recorded_at, reason, late_clock_hours, late_working_hours,"
            " causes) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id, kind) DO NOTHING",
            record.delivery_id, record.kind.value, record.recorded_at, record.reason,
            record.late_clock_hours, record.late_working_hours, causes_json(record.causes))
        return changed > 0

    async def delays(self, *, since: datetime | None = None, until: datetime | None = None,
                     unit_id: str | None = None, channel: str | None = None,
                     kinds: list[str] | None = None, limit: int = 10_000) -> list[DelayRecord]:
        where = ["1=1"]
        args: list[Any] = []
        for cond, value in (("r.recorded_at >= ?", since), ("r.recorded_at < ?", until), ("d.unit_id = ?", unit_id)):
            if value is not None:
                where.append(cond)
                args.append(value)
        if channel:
            where.append("(d.channel_kind = ? OR d.account_id = ?)")
            args += [channel, channel]
        if kinds:
            where.append(f"r.kind IN ({marks(kinds)})")
            args += kinds
        rows = await self.db.fetch(
            "SELECT r.*, d.unit_id, d.account_id, d.channel_kind, d.deadline_at, d.state AS delivery_state,"
            " i.title, i.source_id FROM delay_records r"
            " JOIN deliveries d ON d.id = r.delivery_id JOIN items i ON i.id = d.item_id"
            f" WHERE {' AND '.join(where)} ORDER BY r.recorded_at, r.id LIMIT ?", *args, limit)
        return [
            DelayRecord(
                id=r["id"], delivery_id=r["delivery_id"], kind=DelayKind(r["kind"]),
                recorded_at=required_time(r["recorded_at"]),
                reason=r["reason"], late_clock_hours=r["late_clock_hours"],
                late_working_hours=r["late_working_hours"], unit_id=r["unit_id"], account_id=r["account_id"],
                channel_kind=r["channel_kind"], item_title=r["title"], deadline_at=as_datetime(r["deadline_at"]),
                delivery_state=r["delivery_state"], source_id=r["source_id"],
                causes=causes_from_row(r["causes"], r["reason"]),
            )
            for r in rows
        ]

    async def delay_causes(self, delivery_ids: list[int]) -> dict[int, dict[str, tuple[DelayCause, ...]]]:
        """Causes already on record per delivery and kind (a late delivery inherits the causes seen
        while it was open: a pause or an outage leaves no trace on the delivery once it is sent)."""
        if not delivery_ids:
            return {}
        rows = await self.db.fetch(
            "SELECT delivery_id, kind, reason, causes FROM delay_records"
            f" WHERE delivery_id IN ({marks(delivery_ids)})", *delivery_ids)
        out: dict[int, dict[str, tuple[DelayCause, ...]]] = {}
        for r in rows:
            out.setdefault(r["delivery_id"], {})[r["kind"]] = causes_from_row(r["causes"], r["reason"])
        return out

    async def delay_counts(self) -> dict[str, int]:
        rows = await self.db.fetch("SELECT kind, COUNT(*) AS n FROM delay_records GROUP BY kind")
        return {r["kind"]: r["n"] for r in rows}
