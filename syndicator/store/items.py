"""Ingest: an upstream item and all its deliveries, written in one transaction.

The item is "seen" only when its deliveries exist (a crash can never leave one without the
other). De-duplication is across sources, by normalised URL and by content hash; a changed
title or body on a known item is an update (a new version), not a new item. Each delivery keeps
the anchor its deadline was computed from: the item's for the first version, the update's own for
a re-send, so a later recomputation (new calendar) starts from the right moment.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from syndicator.models import DeliveryState, Item, idempotency_key
from syndicator.store.db import Executor, Row, as_datetime


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    unit_id: str
    account_id: str
    channel_kind: str
    deadline_at: datetime
    provisional: bool = False
    anchor_at: datetime | None = None  # what deadline_at was computed from; None: the item's anchor
    anchor_kind: str | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    status: Literal["created", "duplicate", "updated", "seen"]
    item_id: int
    deliveries: int = 0
    version: int = 1


class ItemsMixin:
    db: object

    async def ingest(self, item: Item, anchor_at: datetime, anchor_kind: str, planned: list[PlannedDelivery],
                     now: datetime, *, resend: Sequence[PlannedDelivery] = ()) -> IngestResult:
        """Store a new item with ``planned``, or, when a known item's title or body changed, a new
        version with ``resend`` — planned from the update's own anchor (each must name it)."""
        if any(p.anchor_at is None or p.anchor_kind is None for p in resend):
            raise ValueError("re-send deliveries must carry the update's own anchor")
        async with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = await tx.fetchrow(
                "SELECT i.* FROM item_sources s JOIN items i ON i.id = s.item_id WHERE s.source_id = ? AND s.guid = ?",
                item.source_id, item.guid)
            if row is None:
                row = await tx.fetchrow("SELECT * FROM items WHERE canonical_url = ?", item.canonical_url)
                if row is None and item.content:
                    row = await tx.fetchrow("SELECT * FROM items WHERE content_hash = ? ORDER BY id LIMIT 1",
                                            item.content_hash)
                if row is not None:
                    await tx.execute(
                        "INSERT INTO item_sources (source_id, guid, item_id, url, seen_at) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT DO NOTHING", item.source_id, item.guid, row["id"], item.url, now)
                    updated = await self._maybe_update(tx, row, item, resend, now)
                    return updated or IngestResult("duplicate", row["id"], version=row["version"])
            else:
                updated = await self._maybe_update(tx, row, item, resend, now)
                return updated or IngestResult("seen", row["id"], version=row["version"])

            item_id = await tx.fetchval(
                "INSERT INTO items (source_id, guid, url, canonical_url, title, summary, content, images, origin,"
                " authority, rule, content_hash, published_at, detected_at, anchor_at, anchor_kind, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id",
                item.source_id, item.guid, item.url, item.canonical_url, item.title, item.summary, item.content,
                json.dumps(list(item.images)), item.origin, item.authority, item.rule, item.content_hash,
                item.published_at, item.detected_at, anchor_at, anchor_kind)
            await tx.execute(
                "INSERT INTO item_sources (source_id, guid, item_id, url, seen_at) VALUES (?, ?, ?, ?, ?)",
                item.source_id, item.guid, item_id, item.url, now)
            await tx.execute(
                "INSERT INTO item_versions (item_id, version, title, content_hash, source_id, changed_at)"
                " VALUES (?, 1, ?, ?, ?, ?)", item_id, item.title, item.content_hash, item.source_id, now)
            planned = [p if p.anchor_at else replace(p, anchor_at=anchor_at, anchor_kind=anchor_kind)
                       for p in planned]
            count = await self._insert_deliveries(tx, item.canonical_url, item_id, 1, planned, now)
            return IngestResult("created", item_id, count)

    async def _maybe_update(self, tx: Executor, row: Row, item: Item, resend: Sequence[PlannedDelivery],
                            now: datetime) -> IngestResult | None:
        title_changed = item.title != row["title"]
        body_changed = bool(item.content) and item.content_hash != row["content_hash"]
        if not (title_changed or body_changed):
            return None
        version = row["version"] + 1
        await tx.execute(
            "UPDATE items SET title = ?, content = CASE WHEN ? THEN ? ELSE content END,"
            " content_hash = CASE WHEN ? THEN ? ELSE content_hash END, version = ?, updated_at = ? WHERE id = ?",
            item.title, body_changed, item.content, body_changed, item.content_hash, version, now, row["id"])
        await tx.execute(
            "INSERT INTO item_versions (item_id, version, title, content_hash, source_id, changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", row["id"], version, item.title,
            item.content_hash if body_changed else row["content_hash"], item.source_id, now)
        count = await self._insert_deliveries(tx, row["canonical_url"], row["id"], version, resend, now)
        return IngestResult("updated", row["id"], count, version)

    @staticmethod
    async def _insert_deliveries(tx: Executor, item_ref: str, item_id: int, version: int,
                                 planned: Sequence[PlannedDelivery], now: datetime) -> int:
        ref = item_ref if version == 1 else f"{item_ref}#v{version}"
        rows = [
            (item_id, version, p.unit_id, p.account_id, p.channel_kind, idempotency_key(ref, p.unit_id, p.account_id),
             DeliveryState.PENDING.value, p.deadline_at, p.provisional, p.anchor_at, p.anchor_kind, now, now)
            for p in planned
        ]
        if rows:
            await tx.executemany(
                "INSERT INTO deliveries (item_id, item_version, unit_id, account_id, channel_kind, idempotency_key,"
                " state, deadline_at, deadline_provisional, anchor_at, anchor_kind, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING", rows)
        return len(rows)

    async def known_guids(self, source_id: str, guids: list[str]) -> set[str]:
        """Which of these upstream ids this source has already produced (skip their article fetch)."""
        if not guids:
            return set()
        marks = ",".join("?" * len(guids))
        rows = await self.db.fetch(  # type: ignore[attr-defined]
            f"SELECT guid FROM item_sources WHERE source_id = ? AND guid IN ({marks})", source_id, *guids)
        return {r["guid"] for r in rows}

    async def get_item(self, item_id: int) -> Item | None:
        row = await self.db.fetchrow("SELECT * FROM items WHERE id = ?", item_id)  # type: ignore[attr-defined]
        return row_to_item(row) if row else None


def row_to_item(row: Row) -> Item:
    return Item(
        id=row["id"], source_id=row["source_id"], guid=row["guid"], url=row["url"], title=row["title"],
        summary=row["summary"], content=row["content"], images=tuple(json.loads(row["images"] or "[]")),
        origin=row["origin"], authority=row["authority"], rule=row["rule"], canonical_url=row["canonical_url"],
        content_hash=row["content_hash"], published_at=as_datetime(row["published_at"]),
        detected_at=as_datetime(row["detected_at"]), version=row["version"],  # type: ignore[arg-type]
    )
