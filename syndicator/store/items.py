"""Ingest: an upstream item and all its deliveries, written in one transaction.

The item is "seen" only when its deliveries exist (a crash can never leave one without the
other). De-duplication is across sources, by normalised URL, a guid or 文号 key (item_keys), and — only
for a substantive body under an equal normalised title — by content hash; each merged copy keeps what
matched it (item_sources.matched_by), so operators see every merge. A changed
title or body on a known item is an update (a new version), not a new item. "Changed" is judged
per (source, guid) against that source's own last view (kept on item_sources): sources wording one
document differently must not take turns rewriting it. Each delivery keeps
the anchor its deadline was computed from: the item's for the first version, the update's own for
a re-send, so a later recomputation (new calendar) starts from the right moment.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from core.models import DeliveryState, Item, idempotency_key
from feeds.identity import normalise_title
from syndicator.store.base import StoreBase, marks, required_time
from syndicator.store.db import Executor, Row, as_datetime

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    unit_id: str
    account_id: str
    channel_kind: str
    deadline_at: datetime
    provisional: bool = False
    anchor_at: datetime | None = None  # what deadline_at was computed from; None: the item's anchor
    anchor_kind: str | None = None
    hold_reason: str | None = None     # created held with this reason (an implausible article body)


BULK_DELIVERIES = 1000      # an ingest adding this many deliveries refreshes the planner's statistics


@dataclass(frozen=True, slots=True)
class IngestResult:
    status: Literal["created", "duplicate", "updated", "seen"]
    item_id: int
    deliveries: int = 0
    version: int = 1
    matched_by: str | None = None      # a duplicate: "url", "guid", "doc" (文号) or "content"


@dataclass(frozen=True, slots=True)
class SeenEntry:
    """What the store remembers of one (source, guid): its item and the raw entry last accepted."""

    item_id: int
    version: int
    raw_hash: str | None


class ItemsMixin(StoreBase):
    async def ingest(self, item: Item, anchor_at: datetime, anchor_kind: str, planned: list[PlannedDelivery],
                     now: datetime, *, resend: Sequence[PlannedDelivery] = (), raw_hash: str | None = None
                     ) -> IngestResult:
        """Store a new item with ``planned``, or, when this source's own view of a known item changed
        (title or body), a new version with ``resend`` — planned from the update's own anchor (each
        must name it). ``raw_hash`` (of the entry as parsed) is kept for ``seen_entry``."""
        if any(p.anchor_at is None or p.anchor_kind is None for p in resend):
            raise ValueError("re-send deliveries must carry the update's own anchor")
        result = await self._ingest(item, anchor_at, anchor_kind, planned, now, resend, raw_hash)
        if result.deliveries >= BULK_DELIVERIES:
            # A province's fan-out adds tens of thousands of open rows at once; a planner still counting the
            # table as it was would scan and sort them all on every claim instead of walking the index.
            try:
                await self.db.refresh_statistics("deliveries")
            except Exception:       # the item is stored; claims are only slower until autovacuum analyses
                log.warning("could not refresh the planner statistics after a bulk ingest", exc_info=True)
        return result

    async def _ingest(self, item: Item, anchor_at: datetime, anchor_kind: str, planned: list[PlannedDelivery],
                      now: datetime, resend: Sequence[PlannedDelivery], raw_hash: str | None) -> IngestResult:
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT i.*, s.title AS seen_title, s.content_hash AS seen_hash, s.raw_hash AS seen_raw"
                " FROM item_sources s JOIN items i ON i.id = s.item_id WHERE s.source_id = ? AND s.guid = ?",
                item.source_id, item.guid)
            if row is not None:
                updated = await self._maybe_update(tx, row, item, resend, now, raw_hash)
                return updated or IngestResult("seen", row["id"], version=row["version"])
            row, matched_by = await _same_document(tx, item)
            if row is not None:   # another source's copy: remembered as that source's view, the item stands
                await self._add_source(tx, row["id"], item, now, raw_hash, conflict=" ON CONFLICT DO NOTHING",
                                       matched_by=matched_by)
                await _add_keys(tx, row["id"], item.keys)
                return IngestResult("duplicate", row["id"], version=row["version"], matched_by=matched_by)

            item_id = await tx.fetchval(
                "INSERT INTO items (source_id, guid, url, canonical_url, title, summary, content, images, origin,"
                " authority, rule, content_hash, published_at, published_raw, date_problem, detected_at, anchor_at,"
                " anchor_kind, version, detection_health, detection_note)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (canonical_url) DO NOTHING RETURNING id",
                item.source_id, item.guid, item.url, item.canonical_url, item.title, item.summary, item.content,
                json.dumps(list(item.images)), item.origin, item.authority, item.rule, item.content_hash,
                item.published_at, item.published_raw, item.date_problem, item.detected_at, anchor_at, anchor_kind,
                item.detection_health, item.detection_note)
            if item_id is None:
                # Another hub sharing the database stored this item between our look and our insert (PostgreSQL
                # waits for its commit, then skips): the same item seen twice, not a failed poll.
                row = await tx.fetchone("SELECT * FROM items WHERE canonical_url = ?", item.canonical_url)
                await self._add_source(tx, row["id"], item, now, raw_hash, conflict=" ON CONFLICT DO NOTHING",
                                       matched_by="url")
                await _add_keys(tx, row["id"], item.keys)
                log.info("item %s was stored by another hub at the same moment", item.canonical_url)
                return IngestResult("duplicate", row["id"], version=row["version"], matched_by="url")
            if item.truncated:
                await tx.execute("UPDATE items SET truncated = ? WHERE id = ?", json.dumps(item.truncated), item_id)
            await self._add_source(tx, item_id, item, now, raw_hash)
            await _add_keys(tx, item_id, item.keys)
            await tx.execute(
                "INSERT INTO item_versions (item_id, version, title, content_hash, source_id, changed_at)"
                " VALUES (?, 1, ?, ?, ?, ?)", item_id, item.title, item.content_hash, item.source_id, now)
            planned = [p if p.anchor_at else replace(p, anchor_at=anchor_at, anchor_kind=anchor_kind)
                       for p in planned]
            count = await self._insert_deliveries(tx, item.canonical_url, item_id, 1, planned, now)
            return IngestResult("created", item_id, count)

    @staticmethod
    async def _add_source(tx: Executor, item_id: int, item: Item, now: datetime, raw_hash: str | None,
                          conflict: str = "", matched_by: str | None = None) -> None:
        """Link (source, guid) to the item with this source's view: its title, and its body hash only
        when it showed a body (a list entry without one says nothing about the body). A merged copy keeps
        what it was matched by: operators see every merge, with both sources."""
        await tx.execute(
            "INSERT INTO item_sources (source_id, guid, item_id, url, seen_at, title, content_hash, raw_hash,"
            f" matched_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?){conflict}", item.source_id, item.guid, item_id,
            item.url, now, item.title, item.content_hash if item.content else None, raw_hash, matched_by)

    async def _maybe_update(self, tx: Executor, row: Row, item: Item, resend: Sequence[PlannedDelivery],
                            now: datetime, raw_hash: str | None) -> IngestResult | None:
        """A new version only when this source's own view changed *and* differs from the item: another
        source's wording is never a change (no flip-flop), and a view converging on the item is no news.
        An unknown view (NULL: a duplicate from before migration 4) becomes the baseline."""
        seen_title, seen_hash = row["seen_title"], row["seen_hash"]
        title_moved = seen_title is not None and item.title != seen_title
        if not item.content:
            body_moved = False
        elif seen_hash is None:   # the first body this source shows: news only to an item without one
            body_moved = not row["content"]
        else:
            body_moved = item.content_hash != seen_hash
        view_hash = item.content_hash if item.content else seen_hash
        if (item.title, view_hash, raw_hash) != (seen_title, seen_hash, row["seen_raw"]):
            await tx.execute(
                "UPDATE item_sources SET title = ?, content_hash = ?, raw_hash = ? WHERE source_id = ? AND guid = ?",
                item.title, view_hash, raw_hash, item.source_id, item.guid)
        title_changed = title_moved and item.title != row["title"]
        body_changed = body_moved and item.content_hash != row["content_hash"]
        if not (title_changed or body_changed):
            return None
        version = row["version"] + 1
        title = item.title if title_changed else row["title"]
        content_hash = item.content_hash if body_changed else row["content_hash"]
        await tx.execute(
            "UPDATE items SET title = ?, content = CASE WHEN ? THEN ? ELSE content END, content_hash = ?,"
            " version = ?, updated_at = ? WHERE id = ?",
            title, body_changed, item.content, content_hash, version, now, row["id"])
        await tx.execute(
            "INSERT INTO item_versions (item_id, version, title, content_hash, source_id, changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)", row["id"], version, title, content_hash, item.source_id, now)
        count = await self._insert_deliveries(tx, row["canonical_url"], row["id"], version, resend, now)
        return IngestResult("updated", row["id"], count, version)

    @staticmethod
    async def _insert_deliveries(tx: Executor, item_ref: str, item_id: int, version: int,
                                 planned: Sequence[PlannedDelivery], now: datetime) -> int:
        ref = item_ref if version == 1 else f"{item_ref}#v{version}"
        rows = [
            (item_id, version, p.unit_id, p.account_id, p.channel_kind, idempotency_key(ref, p.unit_id, p.account_id),
             (DeliveryState.HELD if p.hold_reason else DeliveryState.PENDING).value, p.hold_reason,
             p.deadline_at, p.provisional, p.anchor_at, p.anchor_kind, now, now)
            for p in planned
        ]
        if rows:
            await tx.executemany(
                "INSERT INTO deliveries (item_id, item_version, unit_id, account_id, channel_kind, idempotency_key,"
                " state, last_error, deadline_at, deadline_provisional, anchor_at, anchor_kind, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING", rows)
        return len(rows)

    async def known_guids(self, source_id: str, guids: list[str]) -> set[str]:
        """Which of these upstream ids this source has already produced (skip their article fetch)."""
        if not guids:
            return set()
        rows = await self.db.fetch(
            f"SELECT guid FROM item_sources WHERE source_id = ? AND guid IN ({marks(guids)})", source_id, *guids)
        return {r["guid"] for r in rows}

    async def seen_entry(self, source_id: str, guid: str) -> SeenEntry | None:
        """The item this source's entry became, and the raw hash it was last accepted with."""
        row = await self.db.fetchrow(
            "SELECT s.item_id, s.raw_hash, i.version FROM item_sources s JOIN items i ON i.id = s.item_id"
            " WHERE s.source_id = ? AND s.guid = ?", source_id, guid)
        return SeenEntry(row["item_id"], row["version"], row["raw_hash"]) if row else None

    async def merges(self, *, limit: int = 20, item_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Copies merged into an item (newest first), each with both sources and what matched them: what
        operators are shown so that no merge happens only in a log."""
        where = "s.matched_by IS NOT NULL"
        args: list[Any] = []
        if item_ids is not None:
            if not item_ids:
                return []
            where += f" AND s.item_id IN ({marks(item_ids)})"
            args = list(item_ids)
        rows = await self.db.fetch(
            "SELECT s.item_id, s.source_id, s.url, s.title AS seen_title, s.seen_at, s.matched_by,"
            " i.source_id AS item_source_id, i.title, i.url AS item_url FROM item_sources s"
            f" JOIN items i ON i.id = s.item_id WHERE {where} ORDER BY s.seen_at DESC, s.item_id DESC LIMIT ?",
            *args, limit)
        return [{"item_id": r["item_id"], "title": r["title"], "first_source": r["item_source_id"],
                 "first_url": r["item_url"], "merged_source": r["source_id"], "merged_url": r["url"],
                 "merged_title": r["seen_title"], "matched_by": r["matched_by"],
                 "merged_at": as_datetime(r["seen_at"])} for r in rows]

    async def merge_count(self) -> int:
        return int(await self.db.fetchval(
            "SELECT COUNT(*) AS n FROM item_sources WHERE matched_by IS NOT NULL") or 0)

    async def get_item(self, item_id: int) -> Item | None:
        row = await self.db.fetchrow("SELECT * FROM items WHERE id = ?", item_id)
        return row_to_item(row) if row else None


async def _same_document(tx: Executor, item: Item) -> tuple[Row | None, str | None]:
    """The stored item ``item`` is another copy of, and by what: the normalised URL, a guid or 文号 key, or —
    only for a substantive body under an equal normalised title — the content hash. A stub body ("详见附件。")
    is shared by many distinct documents and merges nothing."""
    row = await tx.fetchrow("SELECT * FROM items WHERE canonical_url = ?", item.canonical_url)
    if row is not None:
        return row, "url"
    for key in item.keys:
        row = await tx.fetchrow("SELECT i.* FROM item_keys k JOIN items i ON i.id = k.item_id WHERE k.key = ?", key)
        if row is not None:
            return row, key.split(":", 1)[0]
    if item.content and item.substantive:
        title = normalise_title(item.title)
        for row in await tx.fetch("SELECT * FROM items WHERE content_hash = ? ORDER BY id LIMIT 20", item.content_hash):
            if normalise_title(row["title"]) == title:
                return row, "content"
    return None, None


async def _add_keys(tx: Executor, item_id: int, keys: Sequence[str]) -> None:
    """The first item to claim a key keeps it."""
    for key in keys:
        await tx.execute("INSERT INTO item_keys (key, item_id) VALUES (?, ?) ON CONFLICT DO NOTHING", key, item_id)


def row_to_item(row: Row) -> Item:
    return Item(
        id=row["id"], source_id=row["source_id"], guid=row["guid"], url=row["url"], title=row["title"],
        summary=row["summary"], content=row["content"], images=tuple(json.loads(row["images"] or "[]")),
        origin=row["origin"], authority=row["authority"], rule=row["rule"], canonical_url=row["canonical_url"],
        content_hash=row["content_hash"], published_at=as_datetime(row["published_at"]),
        published_raw=row["published_raw"] or "", date_problem=row["date_problem"],
        detected_at=required_time(row["detected_at"]), version=row["version"],
        truncated=tuple((str(f), int(n)) for f, n in json.loads(row["truncated"] or "[]")),
        detection_health=row.get("detection_health"), detection_note=row.get("detection_note"),
    )
