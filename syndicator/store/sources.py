"""Sources: each one's polling schedule and health, and when tracking it began (deadlines of items published
before that are baselines, syndicator.anchors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.models import SourceHealth
from syndicator.store.base import StoreBase
from syndicator.store.db import as_datetime

_SOURCE_FIELDS = ("next_check_at", "consecutive_errors", "last_error", "last_error_at", "last_success_at",
                  "failing_since", "etag", "last_modified", "body_hash", "items_seen",
                  "polls", "last_listed", "ever_listed", "empty_since", "empty_reason")


def _row_to_health(row: dict[str, Any]) -> SourceHealth:
    return SourceHealth(
        source_id=row["source_id"], next_check_at=as_datetime(row["next_check_at"]),
        consecutive_errors=row["consecutive_errors"], last_error=row["last_error"],
        last_error_at=as_datetime(row["last_error_at"]), last_success_at=as_datetime(row["last_success_at"]),
        failing_since=as_datetime(row["failing_since"]), etag=row["etag"], last_modified=row["last_modified"],
        body_hash=row["body_hash"], items_seen=row["items_seen"],
        polls=row["polls"], last_listed=row["last_listed"], ever_listed=bool(row["ever_listed"]),
        empty_since=as_datetime(row["empty_since"]), empty_reason=row["empty_reason"],
        extra={"alerted": "1" if row["alerted"] else ""},
    )


class SourcesMixin(StoreBase):
    async def source_health(self, source_id: str) -> SourceHealth:
        row = await self.db.fetchrow("SELECT * FROM sources WHERE source_id = ?", source_id)
        return _row_to_health(row) if row else SourceHealth(source_id)

    async def source_schedule(self) -> dict[str, datetime | None]:
        """Every source's next check (the watcher's schedule index is built from this, once)."""
        rows = await self.db.fetch("SELECT source_id, next_check_at FROM sources")
        return {r["source_id"]: as_datetime(r["next_check_at"]) for r in rows}

    async def save_source_health(self, h: SourceHealth) -> None:
        values = [getattr(h, f) for f in _SOURCE_FIELDS]
        cols = ", ".join(_SOURCE_FIELDS)
        updates = ", ".join(f"{f} = excluded.{f}" for f in (*_SOURCE_FIELDS, "alerted"))
        await self.db.execute(
            f"INSERT INTO sources (source_id, {cols}, alerted) VALUES (?, {', '.join('?' * len(values))}, ?)"
            f" ON CONFLICT (source_id) DO UPDATE SET {updates}",
            h.source_id, *values, bool(h.extra.get("alerted")))

    async def all_source_health(self) -> list[SourceHealth]:
        rows = await self.db.fetch("SELECT * FROM sources ORDER BY source_id")
        return [_row_to_health(r) for r in rows]

    async def start_tracking(self, source_id: str, at: datetime) -> datetime:
        """The source's tracking start, set to ``at`` if it has none yet (its first successful poll)."""
        await self.db.execute(
            "INSERT INTO sources (source_id, tracking_started_at) VALUES (?, ?) ON CONFLICT (source_id)"
            " DO UPDATE SET tracking_started_at = COALESCE(sources.tracking_started_at, excluded.tracking_started_at)",
            source_id, at)
        return await self.tracking_start(source_id) or at

    async def tracking_start(self, source_id: str) -> datetime | None:
        return as_datetime(await self.db.fetchval(
            "SELECT tracking_started_at FROM sources WHERE source_id = ?", source_id))
