"""Live verification rows: which delivered reprints are due to be looked for, and the proof each look left.

A check is claimed by moving ``verify_next_at`` to a lease (a guarded UPDATE, so two hubs sharing PostgreSQL
never check the same delivery at once; a hub that dies mid-check leaves it due again when the lease ends).
The proof row and the delivery's new state are written in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syndicator.store.base import StoreBase, marks, required_time
from syndicator.store.db import as_datetime
from syndicator.store.reports import FACT_COLUMNS, FACT_JOIN, DeliveryFacts, delivery_facts_of

VERIFY_STATES = ("pending", "verified", "not_visible", "unverifiable", "gone")


@dataclass(frozen=True, slots=True)
class VerifyTask:
    """A delivered reprint to look for, with what identifies it publicly."""

    id: int
    unit_id: str
    account_id: str
    channel_kind: str
    title: str
    item_url: str
    deadline_at: datetime
    delivered_at: datetime | None
    external_id: str | None
    external_url: str | None
    verify_state: str
    verified_at: datetime | None
    attempts: int
    matched_url: str | None      # the link a previous check found the reprint at (rechecks go there)


@dataclass(frozen=True, slots=True)
class Proof:
    """One check's evidence (the ``verifications`` row)."""

    outcome: str                  # seen | absent | error | unverifiable
    url: str | None = None
    http_status: int | None = None
    matched: str | None = None    # what was found: "标题" / "链接" and the link it was found at
    matched_url: str | None = None
    page_hash: str | None = None  # sha256 of the page bytes (or of the API JSON)
    api_json: Any = None
    reason: str | None = None     # Simplified Chinese: what was (not) seen, or why the check could not run


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """A check's proof and what it makes of the delivery."""

    delivery_id: int
    at: datetime
    proof: Proof
    state: str
    next_at: datetime | None
    verified_at: datetime | None = None
    note: str | None = None


class VerifyMixin(StoreBase):
    async def claim_verifications(self, now: datetime, limit: int, lease_until: datetime) -> list[VerifyTask]:
        """Up to ``limit`` due checks, oldest due first, leased until ``lease_until``."""
        rows = await self.db.fetch(
            "SELECT id FROM deliveries WHERE verify_next_at <= ? AND state = 'delivered'"
            " ORDER BY verify_next_at, id LIMIT ?", now, limit)
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        async with self.db.transaction() as tx:
            claimed = await tx.fetch(
                f"UPDATE deliveries SET verify_next_at = ? WHERE id IN ({marks(ids)}) AND verify_next_at <= ?"
                " AND state = 'delivered' RETURNING id", lease_until, *ids, now)
            got = [r["id"] for r in claimed]
            if not got:
                return []
            full = await tx.fetch(
                "SELECT d.id, d.unit_id, d.account_id, d.channel_kind, d.deadline_at, d.delivered_at, d.external_id,"
                " d.external_url, d.verify_state, d.verified_at, d.verify_attempts, i.title, i.url AS item_url,"
                " (SELECT v.url FROM verifications v WHERE v.delivery_id = d.id AND v.outcome = 'seen'"
                "  ORDER BY v.id DESC LIMIT 1) AS matched_url"
                f" FROM deliveries d JOIN items i ON i.id = d.item_id WHERE d.id IN ({marks(got)})"
                " ORDER BY d.id", *got)
        t = as_datetime
        return [VerifyTask(id=r["id"], unit_id=r["unit_id"], account_id=r["account_id"],
                           channel_kind=r["channel_kind"], title=r["title"], item_url=r["item_url"],
                           deadline_at=required_time(r["deadline_at"]), delivered_at=t(r["delivered_at"]),
                           external_id=r["external_id"], external_url=r["external_url"],
                           verify_state=r["verify_state"] or "pending", verified_at=t(r["verified_at"]),
                           attempts=r["verify_attempts"], matched_url=r["matched_url"]) for r in full]

    async def record_verifications(self, results: list[VerifyResult]) -> None:
        """Each check's proof row and its delivery's new verification state, all in one transaction (a claim's
        worth of checks: one commit instead of one per check)."""
        if not results:
            return
        async with self.db.transaction() as tx:
            for v in results:
                assert v.state in VERIFY_STATES
                p = v.proof
                api = None if p.api_json is None else json.dumps(p.api_json, ensure_ascii=False, default=str)
                await tx.execute(
                    "INSERT INTO verifications (delivery_id, at, outcome, url, http_status, matched, page_hash,"
                    " api_json, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", v.delivery_id, v.at, p.outcome,
                    p.matched_url or p.url, p.http_status, p.matched, p.page_hash, api, p.reason)
                await tx.execute(
                    "UPDATE deliveries SET verify_state = ?, verify_next_at = ?,"
                    " verified_at = COALESCE(?, verified_at), verify_attempts = verify_attempts + 1,"
                    " verify_note = COALESCE(?, verify_note) WHERE id = ?",
                    v.state, v.next_at, v.verified_at, v.note, v.delivery_id)

    async def verifications(self, delivery_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT * FROM verifications WHERE delivery_id = ? ORDER BY id", delivery_id)
        out = []
        for r in rows:
            row = dict(r)
            row["at"] = as_datetime(row["at"])
            row["api_json"] = json.loads(row["api_json"]) if row["api_json"] else None
            out.append(row)
        return out

    async def verify_summary(self, delivery_id: int) -> dict[str, Any]:
        row = await self.db.fetchrow(
            "SELECT verify_state, verified_at, verify_next_at, verify_attempts, verify_note FROM deliveries"
            " WHERE id = ?", delivery_id)
        if row is None:
            return {}
        return {**dict(row), "verified_at": as_datetime(row["verified_at"]),
                "verify_next_at": as_datetime(row["verify_next_at"])}

    async def sent_not_visible(self, now: datetime, unchecked_before: datetime,
                               since: datetime) -> list[tuple[DeliveryFacts, str | None, str]]:
        """Delivered on time, deadline in [since, now), not seen publicly (checked and not found, or never checked
        in the grace), and not yet on record as not visible. ``since`` keeps the scan on the recent part of the
        deliveries_due (state, deadline_at) index however long the history grows. Each with its public URL and
        verification state (the caller drops never-checked ones that could not have been seen anyway)."""
        rows = await self.db.fetch(
            f"{FACT_COLUMNS}, d.verify_note, d.external_url, d.verify_state FROM deliveries d{FACT_JOIN}"
            " WHERE d.state = 'delivered' AND d.deadline_at < ?"
            " AND d.deadline_at >= ? AND d.delivered_at <= d.deadline_at"
            " AND (d.verify_state = 'not_visible' OR (d.verify_state = 'pending' AND d.deadline_at < ?))"
            " AND NOT EXISTS (SELECT 1 FROM delay_records r WHERE r.delivery_id = d.id AND r.kind = 'not_visible')"
            " ORDER BY d.deadline_at, d.id", now, since, unchecked_before)
        return [(delivery_facts_of({**r, "note": r["verify_note"] or r["note"]}), r["external_url"], r["verify_state"])
                for r in rows]

    async def verify_state_counts(self) -> dict[str, int]:
        """Delivered reprints by verification state ("none": delivered before verification existed)."""
        rows = await self.db.fetch("SELECT COALESCE(verify_state, 'none') AS vs, COUNT(*) AS n FROM deliveries"
                                   " WHERE state = 'delivered' GROUP BY COALESCE(verify_state, 'none')")
        return {r["vs"]: int(r["n"]) for r in rows}

    async def verify_counts(self, start: datetime, end: datetime) -> dict[tuple[str, str], dict[str, int]]:
        """Per (unit, channel kind), delivered reprints with a deadline in (start, end] by verification state
        (sent_only: delivered, not yet seen and the deadline not settled; or delivered before verification)."""
        rows = await self.db.fetch(
            "SELECT unit_id, channel_kind, COALESCE(verify_state, 'pending') AS vs, COUNT(*) AS n FROM deliveries"
            " WHERE state = 'delivered' AND deadline_at > ? AND deadline_at <= ?"
            " GROUP BY unit_id, channel_kind, COALESCE(verify_state, 'pending')", start, end)
        out: dict[tuple[str, str], dict[str, int]] = {}
        for r in rows:
            c = out.setdefault((r["unit_id"], r["channel_kind"]),
                               {"verified": 0, "sent_only": 0, "not_visible": 0, "unverifiable": 0, "gone": 0})
            c["sent_only" if r["vs"] == "pending" else r["vs"]] += int(r["n"])
        return out
