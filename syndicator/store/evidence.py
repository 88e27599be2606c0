"""What proves a reprint and what its deadline rests on: receipts, attempts, proof rows, time corrections.

Receipts are what a platform answered for one attempt outcome (public URL, its own publish time, its
error code), kept apart from the attempts table (read here, never written) so an inspector's "show me"
is answered from the platform's own words. Rows for exports are plain dicts of one delivery each.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from syndicator.store.base import StoreBase, marks
from syndicator.store.db import Row, as_datetime
from syndicator.store.group_commit import Statement

_T = ("published_at", "detected_at", "anchor_at", "deadline_at", "delivered_at", "platform_published_at",
      "updated_at", "started_at", "finished_at", "at", "old_published_at", "new_published_at")
_PROOF_COLS = (
    "SELECT d.id, d.item_id, d.unit_id, d.account_id, d.channel_kind, d.state, d.deadline_at,"
    " d.deadline_provisional, d.delivered_at, d.external_id, d.external_url, d.note, d.last_error, d.updated_at,"
    " d.attempts, d.possible_duplicate,"
    " COALESCE(d.anchor_at, i.anchor_at) AS anchor_at, COALESCE(d.anchor_kind, i.anchor_kind) AS anchor_kind,"
    " i.title, i.url AS item_url, i.source_id, i.published_at, i.published_raw, i.date_problem, i.detected_at,"
    " i.detection_health, i.detection_note,"
    " (SELECT MAX(r.platform_published_at) FROM receipts r WHERE r.delivery_id = d.id"
    "  AND r.outcome = 'delivered') AS platform_published_at"
    " FROM deliveries d JOIN items i ON i.id = d.item_id"
)


def _times(r: Row) -> dict[str, Any]:
    out = dict(r)
    for k in _T:
        if k in out:
            out[k] = as_datetime(out[k])
    for k in ("deadline_provisional", "possible_duplicate"):
        if k in out:
            out[k] = bool(out[k])
    return out


def receipt_statement(delivery_id: int, at: datetime, outcome: str, *, code: str | int | None = None,
                      external_id: str | None = None, url: str | None = None,
                      platform_published_at: datetime | None = None, body: Any = None) -> Statement:
    """One receipt row, to ride the group commit with the outcome it documents."""
    return ("INSERT INTO receipts (delivery_id, at, outcome, code, external_id, url, platform_published_at, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (delivery_id, at, outcome, None if code is None else str(code), external_id, url, platform_published_at,
             None if body is None else json.dumps(body, ensure_ascii=False, default=str)))


class EvidenceMixin(StoreBase):
    # ------------------------------------------------------------ receipts
    async def record_receipt(self, delivery_id: int, at: datetime, outcome: str, **fields: Any) -> None:
        await self.outcomes.run([receipt_statement(delivery_id, at, outcome, **fields)])

    async def receipts(self, delivery_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        if not delivery_ids:
            return {}
        rows = await self.db.fetch(
            f"SELECT * FROM receipts WHERE delivery_id IN ({marks(delivery_ids)})"
            " ORDER BY delivery_id, id", *delivery_ids)
        out: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            rec = _times(r)
            rec["body"] = json.loads(rec["body"]) if rec.get("body") else None
            out.setdefault(r["delivery_id"], []).append(rec)
        return out

    async def attempts_of(self, delivery_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT id, holder, started_at, finished_at, outcome, detail FROM attempts WHERE delivery_id = ?"
            " ORDER BY id", delivery_id)
        return [_times(r) for r in rows]

    # ------------------------------------------------------------ proof rows
    async def proof_rows(self, *, ids: list[int] | None = None, deadline_after: datetime | None = None,
                         deadline_until: datetime | None = None, unit_id: str | None = None,
                         item_id: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Deliveries with the item facts an inspector asks for, by id or by deadline in (after, until]."""
        where: list[str] = []
        args: list[Any] = []
        if ids is not None:
            if not ids:
                return []
            where.append(f"d.id IN ({marks(ids)})")
            args.extend(ids)
        if deadline_after is not None:
            where.append("d.deadline_at > ?")
            args.append(deadline_after)
        if deadline_until is not None:
            where.append("d.deadline_at <= ?")
            args.append(deadline_until)
        if unit_id:
            where.append("d.unit_id = ?")
            args.append(unit_id)
        if item_id is not None:
            where.append("d.item_id = ?")
            args.append(item_id)
        if limit is not None:
            args.append(limit)
        rows = await self.db.fetch(
            f"{_PROOF_COLS} WHERE {' AND '.join(where) or '1=1'} ORDER BY d.unit_id, d.deadline_at, d.id"
            + (" LIMIT ?" if limit is not None else ""), *args)
        return [_times(r) for r in rows]

    async def final_reasons(self, delivery_ids: list[int]) -> dict[int, tuple[str, str]]:
        """The most telling delay record per delivery: a final one (late, failed, skipped) over an open one."""
        if not delivery_ids:
            return {}
        rank = {"delivered_late": 0, "failed": 0, "skipped": 0, "overdue": 1, "at_risk": 2, "not_visible": 0}
        rows = await self.db.fetch(
            f"SELECT delivery_id, kind, reason FROM delay_records WHERE delivery_id IN"
            f" ({marks(delivery_ids)}) ORDER BY id", *delivery_ids)
        best: dict[int, tuple[str, str]] = {}
        for r in rows:
            old = best.get(r["delivery_id"])
            if old is None or rank.get(r["kind"], 3) <= rank.get(old[0], 3):
                best[r["delivery_id"]] = (r["kind"], r["reason"])
        return best

    async def delay_records_of(self, delivery_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT kind, recorded_at, reason, late_clock_hours, late_working_hours FROM delay_records"
            " WHERE delivery_id = ? ORDER BY id", delivery_id)
        return [{**r, "recorded_at": as_datetime(r["recorded_at"])} for r in rows]

    # ------------------------------------------------------------ corrections
    async def correct_item_time(self, item_id: int, new_published_at: datetime, anchor_at: datetime,
                                anchor_kind: str, reason: str, actor: str, now: datetime) -> datetime | None:
        """Set the item's upstream time and its first-version deliveries' anchor; record the correction.
        Returns the old upstream time. Deadlines are moved by the caller (store.move_deadline)."""
        async with self.db.transaction() as tx:
            old = as_datetime(await tx.fetchval("SELECT published_at FROM items WHERE id = ?", item_id))
            await tx.execute("UPDATE items SET published_at = ?, anchor_at = ?, anchor_kind = ?, date_problem = NULL"
                             " WHERE id = ?", new_published_at, anchor_at, anchor_kind, item_id)
            await tx.execute("UPDATE deliveries SET anchor_at = ?, anchor_kind = ? WHERE item_id = ?"
                             " AND (anchor_kind IS NULL OR anchor_kind <> 'updated')", anchor_at, anchor_kind, item_id)
            await tx.execute(
                "INSERT INTO time_corrections (item_id, old_published_at, new_published_at, reason, actor, at)"
                " VALUES (?, ?, ?, ?, ?, ?)", item_id, old, new_published_at, reason, actor, now)
        return old

    async def time_corrections(self, item_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT * FROM time_corrections WHERE item_id = ? ORDER BY id", item_id)
        return [_times(r) for r in rows]
