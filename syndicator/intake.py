"""Intake: a required upstream entry becomes an Item and its deliveries, with deadlines.

The deadline is fixed when the item is first stored (anchor = believable upstream time, however old,
else detection time; the case is explicit: syndicator.anchors); both times are kept on the item so a
delay record can explain itself, with the source's health when a tracked item was found late. A re-send
after an upstream update is due one rule-span after the update was detected — its own anchor
("updated"), never the first version's, which may lie days in the past. An upstream date that
could not be read is kept on the item (raw text and why) and logged: the reason a delay record
gives must say the anchor fell back to detection because of it.

An entry whose article body failed its plausibility check (``Entry.body_problem``) is stored without
a body, and its deliveries are created held with "正文提取异常：…" as their reason — visible on the
dashboard and carried into any delay record — except for units with ``link_only_on_bad_body``, which
reprint it as a link (the notice allows 转载 or 链接). Nothing reprints the page's menu.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import replace
from datetime import datetime, timedelta

from core.clock import Clock
from core.content import image_urls, sanitize, to_text
from core.models import BODY_HOLD_PREFIX, Item
from feeds.identity import canonical_url, content_hash, find_document_number, guid_key, is_substantive
from feeds.model import Entry
from feeds.specs import RuleSpec
from syndicator.anchors import detection_health
from syndicator.calendar import WorkCalendar
from syndicator.config import Settings, SourceSettings
from syndicator.content_limits import LimitSettings, RefusedEntry, cap_html, cap_text, refusal, truncation_text
from syndicator.deadlines import Deadline, compute_deadline, deadline_for
from syndicator.store import IngestResult, PlannedDelivery, Store

log = logging.getLogger(__name__)
_SPACE = re.compile(r"\s+")
INLINE_HASH_CHARS = 64_000     # hashing more than this on the event loop would stall it: use a thread


def build_item(source: SourceSettings, entry: Entry, rule: RuleSpec, detected_at: datetime,
               limits: LimitSettings | None = None) -> Item:
    """Sanitise, cap and measure an entry. CPU-bound (nh3 plus several lxml parses: seconds on a 5 MB body),
    so callers on the event loop run it in a thread. Fields over ``limits`` are cut and listed in
    ``Item.truncated``; the identity keys (guid, 文号) and whether the body is substantive are worked out here."""
    limits = limits or LimitSettings()
    truncated: list[tuple[str, int]] = []
    title, cut = cap_text(_SPACE.sub(" ", entry.title).strip(), limits.title_chars)
    if cut:
        truncated.append(("title", cut))
    summary_text, cut = cap_text(to_text(entry.summary) if entry.summary else "", limits.summary_chars)
    if cut:
        truncated.append(("summary", cut))
    content, cut = cap_html(sanitize(entry.content, entry.url) if entry.content else "", limits.body_chars, entry.url)
    if cut:
        truncated.append(("body", cut))
    body_text = to_text(content)
    number = find_document_number(entry.extra, body_text)
    keys = tuple(k for k in (guid_key(entry.guid, entry.url), f"doc:{number}" if number else "") if k)
    return Item(
        source_id=source.id,
        guid=entry.stable_id,
        url=entry.url,
        title=title,
        summary=summary_text,
        content=content,
        images=tuple(image_urls(content)),
        published_at=entry.published_at,
        published_raw=entry.published_raw,
        date_problem=entry.date_problem,
        detected_at=detected_at,
        origin=source.origin or source.name,
        authority=source.authority,
        rule=rule.name,
        canonical_url=canonical_url(entry.url),
        content_hash=content_hash(title, body_text, url=entry.url),
        keys=keys,
        substantive=is_substantive(body_text, limits.substantive_body_chars),
        truncated=tuple(truncated),
    )


def body_hold_reason(problem: str) -> str:
    return f"{BODY_HOLD_PREFIX}：{problem}；稿件已暂存，请人工核对原文后重试（将以链接形式转载）或跳过"


def raw_hash(entry: Entry) -> str:
    """Hash of what an update decision depends on (URL, title, raw body): equal means build_item would
    give the same answer, so a known entry seen unchanged can skip it."""
    raw = "\x1f".join((entry.url, entry.title, entry.content)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


class Intake:
    def __init__(self, settings: Settings, store: Store, calendar: WorkCalendar, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.calendar = calendar
        self.clock = clock
        self._tracking: dict[str, datetime] = {}   # source -> stored tracking start (never changes once set)

    def plan(self, source: SourceSettings, item: Item, tracking_start: datetime | None = None,
             body_problem: str | None = None) -> tuple[list[PlannedDelivery], Deadline, str]:
        """Deliveries for a new item, due from its anchor (believable upstream time, else detection; the
        case — tracked, baseline, implausible — per syndicator.anchors); held with the body problem for units
        that do not accept a link-only reprint."""
        deadline, anchor_kind = deadline_for(item.published_at, item.detected_at,
                                             self.settings.deadlines_for(source.id), self.calendar,
                                             tracking_start, item.date_problem)
        hold = body_hold_reason(body_problem) if body_problem else None
        planned = [
            PlannedDelivery(unit.id, account.id, account.kind, deadline.deadline, deadline.provisional,
                            deadline.anchor, anchor_kind, None if unit.link_only_on_bad_body else hold)
            for unit in self.settings.units_for(source) for account in unit.accounts if account.enabled
        ]
        return planned, deadline, anchor_kind

    def plan_update(self, source: SourceSettings, item: Item) -> tuple[list[PlannedDelivery], Deadline]:
        """Re-sends should ``item`` turn out to update a known item: for units with resend_updates,
        due from the update's detection time (upstream gives no time for a change)."""
        deadline = compute_deadline(item.detected_at, self.settings.deadlines_for(source.id), self.calendar)
        resend = [
            PlannedDelivery(unit.id, account.id, account.kind, deadline.deadline, deadline.provisional,
                            deadline.anchor, "updated")
            for unit in self.settings.units_for(source) if unit.resend_updates
            for account in unit.accounts if account.enabled
        ]
        return resend, deadline

    async def tracking_start(self, source: SourceSettings, detected_at: datetime) -> datetime:
        """Config's ``tracking_starts_at``, else the stored start (the first successful poll, set by the
        watcher), else this detection starts it."""
        if source.tracking_starts_at is not None:
            return source.tracking_starts_at
        start = self._tracking.get(source.id)
        if start is None:
            start = self._tracking[source.id] = await self.store.start_tracking(source.id, detected_at)
        return start

    async def _note_late_detection(self, source: SourceSettings, item: Item, start: datetime) -> Item:
        """A tracked item found more than one polling interval after its publication: keep the source's
        health meanwhile (as stored before this poll) for the delay reason."""
        pub = item.published_at
        if pub is None or pub < start or item.detected_at - pub <= timedelta(seconds=source.interval):
            return item
        tolerance = timedelta(minutes=self.settings.deadlines_for(source.id).future_tolerance_minutes)
        if pub > item.detected_at + tolerance:
            return item
        health = detection_health(pub, item.detected_at, await self.store.source_health(source.id),
                                  source.interval, self.settings.deadlines_for(source.id).tz)
        return replace(item, detection_health=health.code, detection_note=health.note)

    async def accept(self, source: SourceSettings, entry: Entry, rule: RuleSpec) -> IngestResult:
        """Store the entry (new item, update, duplicate, or nothing new). The heavy work happens off the
        event loop, and not at all for a known entry whose raw form is what was last accepted."""
        if (reason := refusal(entry.title)) is not None:
            raise RefusedEntry(reason)
        if len(entry.content) > INLINE_HASH_CHARS:
            raw = await asyncio.to_thread(raw_hash, entry)
        else:
            raw = raw_hash(entry)
        seen = await self.store.seen_entry(source.id, entry.stable_id)
        if seen is not None and seen.raw_hash == raw:
            return IngestResult("seen", seen.item_id, version=seen.version)
        item = await asyncio.to_thread(build_item, source, entry, rule, self.clock.now(), self.settings.limits)
        start = await self.tracking_start(source, item.detected_at)
        item = await self._note_late_detection(source, item, start)
        planned, deadline, anchor_kind = self.plan(source, item, start, entry.body_problem)
        resend, update_deadline = self.plan_update(source, item)
        result = await self.store.ingest(item, deadline.anchor, anchor_kind, planned, self.clock.now(),
                                         resend=resend, raw_hash=raw)
        if result.status == "created":
            log.info("detected item %d from %s: %s -> %d deliveries due %s%s", result.item_id, source.id,
                     item.title, result.deliveries, deadline.deadline.isoformat(),
                     " (provisional)" if deadline.provisional else "")
            if entry.body_problem:
                log.warning("source %s: item %d held for its body (%s): %s", source.id, result.item_id,
                            entry.url, entry.body_problem)
            if item.date_problem:
                log.warning("source %s: upstream date %r of item %d not understood (%s); %s", source.id,
                            item.published_raw, result.item_id, item.date_problem,
                            "deadline counted from detection" if item.published_at is None
                            else f"publication time {item.published_at.isoformat()} taken from elsewhere")
        elif result.status == "updated":
            log.info("item %d updated upstream (version %d) via %s: %s; %d re-sends due %s%s", result.item_id,
                     result.version, source.id, item.title, result.deliveries, update_deadline.deadline.isoformat(),
                     " (provisional)" if update_deadline.provisional else "")
        elif result.status == "duplicate":
            log.info("item from %s is a duplicate of item %d (matched by %s): %s", source.id, result.item_id,
                     result.matched_by, item.title)
        if result.status == "created" and item.truncated:
            log.warning("item %d from %s: %s", result.item_id, source.id, truncation_text(item.truncated))
        return result
