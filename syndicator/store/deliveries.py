"""Deliveries as people and pages see them: look-ups, filtered listings and counts, and an operator's
retry or skip of one delivery."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from core.models import Delivery
from syndicator.store.base import StoreBase, marks, row_to_delivery
from syndicator.store.db import contains_pattern


class DeliveriesMixin(StoreBase):
    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = await self.db.fetchrow("SELECT * FROM deliveries WHERE id = ?", delivery_id)
        return row_to_delivery(row) if row else None

    async def delivery_by_key(self, account_id: str, key: str) -> Delivery | None:
        """An account's delivery by its idempotency key (a channel that needs the delivery's id and deadline)."""
        row = await self.db.fetchrow(
            "SELECT * FROM deliveries WHERE account_id = ? AND idempotency_key = ? ORDER BY id DESC LIMIT 1",
            account_id, key)
        return row_to_delivery(row) if row else None

    async def deliveries(self, *, states: Iterable[str] | None = None, account_id: str | None = None,
                         item_id: int | None = None, limit: int = 1000,
                         possible_duplicate: bool | None = None, unit_id: str | None = None,
                         title: str | None = None, offset: int = 0) -> list[Delivery]:
        """Deliveries matching the filters, earliest deadline first; ``title`` is a substring of the item's
        title (the dashboard's search), ``offset`` pages through them."""
        where, args = _delivery_filter(states, account_id, item_id, possible_duplicate, unit_id, title)
        rows = await self.db.fetch(
            f"SELECT * FROM deliveries WHERE {where} ORDER BY deadline_at, id LIMIT ? OFFSET ?", *args, limit,
            max(offset, 0))
        return [row_to_delivery(r) for r in rows]

    async def count_deliveries(self, *, states: Iterable[str] | None = None, account_id: str | None = None,
                               item_id: int | None = None, possible_duplicate: bool | None = None,
                               unit_id: str | None = None, title: str | None = None) -> int:
        """How many deliveries ``deliveries`` would list with these filters and no limit (for paging)."""
        where, args = _delivery_filter(states, account_id, item_id, possible_duplicate, unit_id, title)
        return int(await self.db.fetchval(f"SELECT COUNT(*) FROM deliveries WHERE {where}", *args) or 0)

    async def state_counts(self) -> dict[str, int]:
        rows = await self.db.fetch("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

    async def deadline_counts(self, now: datetime, soon: datetime) -> tuple[int, int]:
        """(overdue, due before ``soon``) among deliveries not yet delivered, failed or skipped."""
        row = await self.db.fetchone(
            "SELECT SUM(CASE WHEN deadline_at < ? THEN 1 ELSE 0 END) AS overdue,"
            " SUM(CASE WHEN deadline_at >= ? AND deadline_at < ? THEN 1 ELSE 0 END) AS soon"
            " FROM deliveries WHERE state NOT IN ('delivered', 'failed', 'skipped')", now, now, soon)
        return int(row["overdue"] or 0), int(row["soon"] or 0)

    async def oldest_open(self) -> Delivery | None:
        row = await self.db.fetchrow(
            "SELECT * FROM deliveries WHERE state NOT IN ('delivered', 'failed', 'skipped')"
            " ORDER BY deadline_at, id LIMIT 1")
        return row_to_delivery(row) if row else None

    async def waiting_on_blocked_accounts(self) -> int:
        """Pending or retrying deliveries of accounts that are paused or need re-authorisation: they arrived
        after the account's open work was held, and wait for it just the same (one query, any account count)."""
        return int(await self.db.fetchval(
            "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'retrying')"
            " AND account_id IN (SELECT account_id FROM accounts WHERE state <> 'active')") or 0)

    async def retry_now(self, delivery_id: int, now: datetime) -> bool:
        """Operator: send again now (from failed, held or retrying)."""
        changed = await self.db.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = NULL, updated_at = ?"
            " WHERE id = ? AND state IN ('failed', 'held', 'retrying', 'pending')", now, delivery_id)
        return changed > 0

    async def skip(self, delivery_id: int, now: datetime, reason: str) -> bool:
        """Operator: do not send, with a reason that goes on record."""
        changed = await self.db.execute(
            "UPDATE deliveries SET state = 'skipped', note = ?, next_attempt_at = NULL, updated_at = ?"
            " WHERE id = ? AND state NOT IN ('delivered', 'skipped', 'sending')", reason, now, delivery_id)
        return changed > 0


def _delivery_filter(states: Iterable[str] | None, account_id: str | None, item_id: int | None,
                     possible_duplicate: bool | None, unit_id: str | None, title: str | None
                     ) -> tuple[str, list[Any]]:
    where = ["1=1"]
    args: list[Any] = []
    if possible_duplicate is not None:
        where.append("possible_duplicate = ?")
        args.append(possible_duplicate)
    if states:
        st = list(states)
        where.append(f"state IN ({marks(st)})")
        args.extend(st)
    if account_id:
        where.append("account_id = ?")
        args.append(account_id)
    if unit_id:
        where.append("unit_id = ?")
        args.append(unit_id)
    if item_id is not None:
        where.append("item_id = ?")
        args.append(item_id)
    if title:
        pattern = contains_pattern(title)
        where.append("item_id IN (SELECT id FROM items WHERE title LIKE ? ESCAPE '\\')")
        args.append(pattern)
    return " AND ".join(where), args
