"""The alert list and the action log (one table, told apart by ``kind``), with acknowledgement and silences.

An alert is something a person must act on (``kind = 'alert'``, with a category such as overdue or account,
and the unit and account it concerns); an action is what a person did (``kind = 'action'``: retry, skip,
pause …, with who did it). Acknowledging marks an alert seen by someone; a silence stops pushes of one
category for one target (an account, a source, a unit, or everything) until a time — the alert is still
recorded and listed, so nothing is lost by silencing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from syndicator.store.base import StoreBase
from syndicator.store.db import as_datetime, contains_pattern

_COLUMNS = "id, at, subject, message, kind, category, unit_id, account_id, acked_by, acked_at"


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "at": as_datetime(r["at"]), "acked_at": as_datetime(r.get("acked_at"))}


class AlertsMixin(StoreBase):
    async def add_alert(self, subject: str, message: str, now: datetime, *, kind: str = "alert",
                        category: str = "", unit_id: str = "", account_id: str = "") -> int:
        """Record an alert (or, with ``kind='action'``, an operator's action); returns its id."""
        async with self.db.transaction() as tx:
            return int(await tx.fetchval(
                "INSERT INTO alerts (at, subject, message, kind, category, unit_id, account_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                now, subject, message, kind, category, unit_id, account_id))

    async def recent_alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        """Alerts and actions together, newest first (the CLI status and older callers)."""
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM alerts ORDER BY id DESC LIMIT ?", limit)
        return [_row(r) for r in rows]

    async def alerts(self, *, kind: str = "alert", category: str = "", unit_id: str = "", acked: bool | None = None,
                     text: str = "", since: datetime | None = None, until: datetime | None = None,
                     subject: str = "", limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """One page of alerts (or actions) matching the filters, newest first, and how many match in all.
        ``subject`` is exact (for actions: ``operator:<who>``)."""
        where = ["kind = ?"]
        args: list[Any] = [kind]
        for column, value in (("category", category), ("unit_id", unit_id), ("subject", subject)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if acked is not None:
            where.append("acked_at IS NOT NULL" if acked else "acked_at IS NULL")
        if text:
            where.append("(message LIKE ? OR subject LIKE ?)")
            pattern = contains_pattern(text)
            args += [pattern, pattern]
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if until is not None:
            where.append("at < ?")
            args.append(until)
        cond = " AND ".join(where).replace("LIKE ?", "LIKE ? ESCAPE '\\'")
        total = await self.db.fetchval(f"SELECT COUNT(*) FROM alerts WHERE {cond}", *args)
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM alerts WHERE {cond} ORDER BY id DESC LIMIT ? OFFSET ?",
                                   *args, limit, offset)
        return [_row(r) for r in rows], int(total or 0)

    async def get_alert(self, alert_id: int) -> dict[str, Any] | None:
        row = await self.db.fetchrow(f"SELECT {_COLUMNS} FROM alerts WHERE id = ?", alert_id)
        return _row(row) if row else None

    async def alert_subjects(self, kind: str = "action", limit: int = 200) -> list[str]:
        """The distinct subjects of one kind (for actions: who has acted), for a filter's choices."""
        rows = await self.db.fetch("SELECT DISTINCT subject FROM alerts WHERE kind = ? ORDER BY subject LIMIT ?",
                                   kind, limit)
        return [r["subject"] for r in rows]

    async def ack_alert(self, alert_id: int, by: str, now: datetime) -> bool:
        """Mark an alert seen by ``by``; False when there is no such unacknowledged alert."""
        n = await self.db.execute("UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND kind = 'alert'"
                                  " AND acked_at IS NULL", by, now, alert_id)
        return n > 0

    async def add_silence(self, category: str, target: str, until: datetime, by: str, reason: str,
                          now: datetime) -> None:
        """Stop pushing ``category`` alerts about ``target`` ('' = every target) until ``until``."""
        await self.db.execute(
            "INSERT INTO alert_silences (category, target, until_at, created_by, reason, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", category, target, until, by, reason, now)

    async def active_silences(self, now: datetime) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT * FROM alert_silences WHERE until_at > ? ORDER BY until_at", now)
        return [{**r, "until_at": as_datetime(r["until_at"]), "created_at": as_datetime(r["created_at"])}
                for r in rows]

    async def end_silence(self, silence_id: int, now: datetime) -> bool:
        return await self.db.execute("UPDATE alert_silences SET until_at = ? WHERE id = ? AND until_at > ?",
                                     now, silence_id, now) > 0
