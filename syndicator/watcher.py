"""Polls every source on its schedule; the schedule and health live in the store.

A failing source is never dropped: it backs off exponentially to a cap and keeps trying, and
once it has failed longer than ``alert_after_seconds`` a person is alerted (and told again
when it recovers). Retry-After and Cache-Control max-age from upstream are respected, within the
backoff cap.

Every network step of a poll has a deadline derived from the fetch timeout (the list pages
together, then each article page), so a fetch that ignores its own timeout — a wedged browser —
is recorded as a failure (health saved, backoff) instead of keeping the source busy for ever.
Intake is never cut short: it is a store transaction, not upstream I/O.

What counts as a failed poll: the list could not be read, or a new article page failed (then the
list is read again next poll; after ``GIVE_UP_AFTER`` polls the entry is stored from its list data).
A later list page failing, or giving up on an article page, is a warning: kept in ``last_error``
without counting as an error, and the list is re-read in full on the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from feeds.model import Entry, FetchError
from feeds.reader import ReadResult, SourceReader
from feeds.rules import required_by
from feeds.specs import RuleSpec
from syndicator.article_checks import ArticleChecks, list_copy
from syndicator.calendar_notices import CalendarNotices
from syndicator.clock import Clock
from syndicator.config import Settings, SourceSettings
from syndicator.content_limits import RefusedEntry
from syndicator.intake import Intake
from syndicator.models import SourceHealth
from syndicator.plain_words import source_error_text, source_warning_text
from syndicator.store import Store
from syndicator.supervisor import Supervisor

log = logging.getLogger(__name__)
Alert = Callable[[str, str], Awaitable[None]]
T = TypeVar("T")

MAX_EXPONENT = 40                              # 2**40 × any interval is far beyond any cap
MAX_DELAY_SECONDS = 366 * 86400.0              # whatever the configured cap, next_check_at stays representable
# A fetch may first wait for a per-host slot (HTTP) or launch Chromium and retry the gate once (browser).
FETCH_BUDGET_FACTOR = {"http": 2.0, "browser": 4.0}


def backoff_seconds(interval: float, errors: int, cap: float, retry_after: float | None = None) -> float:
    """interval × 2^(errors-1), at most ``cap``; a longer upstream Retry-After is honoured up to the
    cap too (a year-long Retry-After must not silence a source). Never overflows."""
    cap = min(cap, MAX_DELAY_SECONDS)
    delay = min(interval * 2.0 ** min(max(errors - 1, 0), MAX_EXPONENT), cap)
    if retry_after is not None and math.isfinite(retry_after) and retry_after > delay:
        delay = min(retry_after, cap)
    return delay


def _as_known(source: SourceSettings, entry: Entry) -> Entry:
    """A stored entry seen on the list again: its title may have changed, but when bodies come from
    article pages, the list's (or feed's) text is not the body and must not look like an edit."""
    if source.article is not None and source.article.enabled:
        entry.content = ""
    return entry


class Watcher:
    def __init__(self, settings: Settings, store: Store, reader: SourceReader, intake: Intake, clock: Clock,
                 alert: Alert) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self.intake = intake
        self.clock = clock
        self.alert = alert
        self.checks = ArticleChecks()
        self._busy: set[str] = set()
        self._refused_alerted: set[tuple[str, str]] = set()
        self.notices: CalendarNotices | None = None     # reads the State Council holiday notice in any source

    def sources(self) -> list[SourceSettings]:
        return [s for s in self.settings.sources if s.enabled]

    async def run(self, stop: asyncio.Event, supervisor: Supervisor | None = None) -> None:
        """Start due polls every tick until ``stop``; a pass that fails (the store unreachable) is retried."""
        tasks: set[asyncio.Task[None]] = set()

        async def tick() -> None:
            for task in await self.start_due():
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        try:
            await (supervisor or Supervisor(self.clock)).loop("watcher", tick, stop, self.settings.hub.tick_seconds)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def start_due(self) -> list[asyncio.Task[None]]:
        now = self.clock.now()
        started = []
        idle = {s.id: s for s in self.sources() if s.id not in self._busy}
        for health in await self.store.due_source_health(list(idle), now):
            self._busy.add(health.source_id)
            started.append(asyncio.create_task(self._poll_guarded(idle[health.source_id], health)))
        return started

    async def _poll_guarded(self, source: SourceSettings, health: SourceHealth) -> None:
        try:
            await self.poll(source, health)
        except Exception:      # recording the poll failed (the store): logged now, polled again when due
            log.exception("poll of source %s could not be recorded; it stays due", source.id)
        finally:
            self._busy.discard(source.id)

    def fetch_budget(self, source: SourceSettings) -> float:
        """Seconds one fetch of this source may take, waiting included, before the poll gives up on it."""
        timeout = self.settings.fetch.timeout_seconds
        return timeout * FETCH_BUDGET_FACTOR[source.fetch] + min(timeout, 10.0)

    async def poll(self, source: SourceSettings, health: SourceHealth | None = None) -> int:
        """Poll one source now; return how many new items it produced. Never raises for upstream faults."""
        health = health or await self.store.source_health(source.id)
        now = self.clock.now()
        try:
            created = await self._read_and_ingest(source, health, now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any upstream fault is recorded, never fatal
            await self._failed(source, health, exc, now)
            return 0
        await self._succeeded(source, health, now)
        return created

    async def _within(self, step: Awaitable[T], seconds: float, url: str, what: str) -> T:
        try:
            async with asyncio.timeout(seconds) as scope:
                return await step
        except TimeoutError:
            if not scope.expired():
                raise
            raise FetchError(f"{url}: {what} did not finish within {seconds:g} s (poll deadline)", url=url) from None

    async def _read_and_ingest(self, source: SourceSettings, health: SourceHealth, now: datetime) -> int:
        pages = source.html.pages if source.html else 1
        result = await self._within(
            self.reader.read(source, etag=health.etag, last_modified=health.last_modified,
                             last_body_hash=health.body_hash),
            self.fetch_budget(source) * pages, source.url, "reading the list")
        health.extra["max_age"] = str(result.fetch.max_age or "")
        if health.last_success_at is None:      # the first successful poll starts tracking (syndicator.anchors)
            await self.store.start_tracking(source.id, now)
        if not result.changed:
            self._keep_validators(health, result)
            await self._recheck_one(source, now)
            return 0
        required = [(e, rule) for e in result.entries if (rule := required_by(e, source.rules)) is not None]
        known = await self.store.known_guids(source.id, [e.stable_id for e, _ in required])
        refetch = self.checks.plan(source.id, required, known, now, self._recheck_every(source))
        created, problems, warnings = 0, [], list(result.warnings)
        read: dict[str, Entry] = {}
        for entry, rule in required:
            sid = entry.stable_id
            if sid in known and sid not in refetch:
                entry = _as_known(source, entry)
            else:
                filled, error = await self._article(source, entry, rule, known=sid in known, now=now)
                if filled is not None:
                    entry = filled
                elif sid in known:             # a failed recheck: the stored item stands
                    entry = _as_known(source, entry)
                elif (failures := self.checks.failed(source.id, sid)) < self.checks.give_up_after:
                    problems.append(error if entry.url in error else f"{entry.url}: {error}")
                    continue
                else:
                    warnings.append(self._give_up(source, entry, rule, error, failures, now))
            # Known entries go through intake too: a changed title or body is an update.
            try:
                outcome = await self.intake.accept(source, entry, rule)
            except RefusedEntry as exc:
                warnings.append(await self._refused(source, entry, str(exc)))
                continue
            created += outcome.status == "created"
            read[sid] = entry
        await self._holiday_notices(source, result.entries, read)
        health.items_seen += created
        if problems:
            raise FetchError(f"{len(problems)} article page(s) failed: {problems[0]}", url=source.url)
        if warnings:
            said = "；".join(map(source_warning_text, warnings))
            health.last_error, health.last_error_at = "提示：" + said[:2000], now
        if not result.warnings:
            # Only now is the body "seen": a failure before this point re-reads the page next time
            # (and so must the validators wait, or a 304 would hide what failed).
            self._keep_validators(health, result)
        return created

    async def _article(self, source: SourceSettings, entry: Entry, rule: RuleSpec, *, known: bool,
                       now: datetime) -> tuple[Entry | None, str]:
        """The entry filled from its page, or None and why not."""
        listed = list_copy(entry)
        try:
            filled = await self._within(self.reader.complete(source, entry), self.fetch_budget(source),
                                        entry.url, "fetching the article page")
        except Exception as exc:  # one bad article page must not hide the others
            if known:
                log.warning("source %s: recheck of article %s failed: %s", source.id, entry.url, exc)
                self.checks.recheck_failed(source.id, entry.stable_id, now)
            return None, str(exc) or type(exc).__name__
        self.checks.checked(source.id, listed, rule, now)
        return filled, ""

    async def _holiday_notices(self, source: SourceSettings, entries: list[Entry], read: dict[str, Entry]) -> None:
        """Hand any entry titled as the holiday notice to the calendar, required by a rule or not; a page
        not yet read is fetched once (a failure is logged and tried again next poll)."""
        if self.notices is None:
            return
        for entry in entries:
            if not self.notices.wants(entry.title):
                continue
            full = read.get(entry.stable_id)
            if full is None or not full.content:
                if self.notices.seen(entry.url):
                    continue
                try:
                    full = await self._within(self.reader.complete(source, entry), self.fetch_budget(source),
                                              entry.url, "fetching the holiday notice")
                except Exception as exc:  # the list and other items are unaffected
                    log.warning("source %s: holiday notice page %s not read: %s", source.id, entry.url, exc)
                    continue
            try:
                await self.notices.observe(full.title, full.content or full.summary, full.url, full.published_at,
                                           source.id)
            except Exception:      # a notice we cannot read must not fail the poll of every other item
                log.exception("source %s: holiday notice %s could not be processed", source.id, entry.url)

    def _give_up(self, source: SourceSettings, entry: Entry, rule: RuleSpec, error: str, failures: int,
                 now: datetime) -> str:
        """Store a new entry whose page keeps failing from its list data; returns the warning."""
        log.warning("source %s: article page %s failed %d polls in a row (%s); storing it from its list entry",
                    source.id, entry.url, failures, error)
        entry.guid = entry.stable_id           # the same identity a fetched page would have kept
        self.checks.checked(source.id, entry, rule, now)
        return f"article page {entry.url} failed {failures} polls in a row ({error}); stored from its list entry"

    async def _refused(self, source: SourceSettings, entry: Entry, reason: str) -> str:
        """An entry intake refused (a garbled title): logged, kept in the source's health as a warning, and a
        person is alerted once per entry and process — it is never published as it stands."""
        log.warning("source %s: entry %s refused: %s", source.id, entry.url, reason)
        key = (source.id, entry.stable_id)
        if key not in self._refused_alerted:
            self._refused_alerted.add(key)
            await self.alert(source.id, f"来源稿件被拒收：{source.name}：{reason}（原文 {entry.url}）")
        return f"{entry.url}: {reason}"

    async def _recheck_one(self, source: SourceSettings, now: datetime) -> None:
        """On an unchanged list, at most one stored article is fetched again (a quiet body edit)."""
        due = self.checks.due(source.id, now, self._recheck_every(source))
        if due is None:
            return
        entry, rule = due
        filled, _error = await self._article(source, entry, rule, known=True, now=now)
        if filled is not None:
            try:
                await self.intake.accept(source, filled, rule)
            except RefusedEntry as exc:
                await self._refused(source, filled, str(exc))

    @staticmethod
    def _recheck_every(source: SourceSettings) -> timedelta | None:
        spec = source.article
        if spec is None or not spec.enabled or spec.recheck_hours <= 0:
            return None
        return timedelta(hours=spec.recheck_hours)

    @staticmethod
    def _keep_validators(health: SourceHealth, result: ReadResult) -> None:
        health.body_hash = result.body_hash
        health.etag = result.fetch.etag or health.etag
        health.last_modified = result.fetch.last_modified or health.last_modified

    async def _succeeded(self, source: SourceSettings, health: SourceHealth, now: datetime) -> None:
        if health.extra.get("alerted"):
            await self.alert(source.id, f"来源恢复正常：{source.name}（此前连续失败 {health.consecutive_errors} 次）")
        health.consecutive_errors = 0
        health.failing_since = None
        health.last_success_at = now
        health.extra["alerted"] = ""
        max_age = float(health.extra.get("max_age") or 0)
        health.next_check_at = now + timedelta(seconds=max(source.interval, min(max_age, 6 * source.interval)))
        await self.store.save_source_health(health)

    async def _failed(self, source: SourceSettings, health: SourceHealth, exc: Exception, now: datetime) -> None:
        health.consecutive_errors += 1
        health.last_error = source_error_text(exc)         # plain Chinese; the raw error is logged below
        health.last_error_at = now
        health.failing_since = health.failing_since or now
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        delay = backoff_seconds(source.interval, health.consecutive_errors, self.settings.fetch.backoff_cap_seconds,
                                retry_after)
        health.next_check_at = now + timedelta(seconds=delay)
        log.warning("source %s failed (%d in a row, next try in %.0f s): %s", source.id,
                    health.consecutive_errors, delay, str(exc) or type(exc).__name__)
        failing_for = (now - health.failing_since).total_seconds()
        if failing_for >= self.settings.fetch.alert_after_seconds and not health.extra.get("alerted"):
            hours = failing_for / 3600
            await self.alert(source.id, f"来源持续失败：{source.name} 已连续失败 {health.consecutive_errors} 次、"
                                        f"{hours:.1f} 小时，最近错误：{health.last_error}")
            health.extra["alerted"] = "1"
        await self.store.save_source_health(health)
