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

A successful poll is also judged by how many entries it listed (syndicator.source_empty): a source
listing nothing goes to the "empty" health state with an alert, exactly like a failing one. A
recheck of a stored article whose body now fails its plausibility check counts as a failed recheck
(the stored body stands); a new entry's implausible body is held by intake.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from core.clock import Clock
from core.deadline import Deadline
from core.fetch import FetchError
from core.models import Alert, SourceHealth
from feeds.model import Entry
from feeds.reader import ReadResult, SourceReader
from feeds.rules import required_by
from feeds.specs import RuleSpec
from syndicator.article_checks import ArticleChecks, list_copy
from syndicator.calendar_notices import CalendarNotices
from syndicator.config import Settings, SourceSettings
from syndicator.content_limits import RefusedEntry
from syndicator.host_health import HostHealth
from syndicator.intake import Intake
from syndicator.plain_words import source_error_text, source_warning_text
from syndicator.poll_schedule import Planned, PollSchedule
from syndicator.source_empty import judge
from syndicator.store import Store
from syndicator.supervisor import Supervisor

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_EXPONENT = 40                              # 2**40 × any interval is far beyond any cap
MAX_DELAY_SECONDS = 366 * 86400.0              # whatever the configured cap, next_check_at stays representable
# A browser fetch may launch Chromium and retry the gate once. Waiting for the host's turn is not
# counted at all (core.deadline): the budget runs only while a request may run.
FETCH_BUDGET_FACTOR = {"http": 2.0, "browser": 4.0}


class ArticlePagesFailed(FetchError):
    """New article pages failed: the source's own trouble, whatever the host's state (see host_health)."""


def host_of(source: SourceSettings) -> str:
    return (urlsplit(source.url).hostname or "").lower()


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
        self.hosts = HostHealth(store.kv, alert, settings.fetch.alert_after_seconds)
        self._busy: set[str] = set()
        self._refused_alerted: set[tuple[str, str]] = set()
        self.notices: CalendarNotices | None = None     # reads the State Council holiday notice in any source
        self._schedule: PollSchedule | None = None
        self._indexed: tuple[int, int] = (0, 0)     # which settings.sources list the schedule was built from
        self._by_id: dict[str, SourceSettings] = {}
        self._wake = asyncio.Event()               # a poll ended: its host may take the next one

    def sources(self) -> list[SourceSettings]:
        return [s for s in self.settings.sources if s.enabled]

    async def run(self, stop: asyncio.Event, supervisor: Supervisor | None = None) -> None:
        """Start due polls as capacity frees (a poll ending wakes the loop) and at least every tick; a pass that
        fails (the store unreachable) is retried by the supervisor."""
        tasks: set[asyncio.Task[None]] = set()

        async def tick() -> None:
            for task in await self.start_due():
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        try:
            await (supervisor or Supervisor(self.clock)).loop("watcher", tick, stop, self.settings.hub.tick_seconds,
                                                              wake=self._wake)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run_due(self) -> int:
        """Poll everything due now, as ``run`` would (bounded, host by host), and return how many polls
        ran. For a one-off pass and for tests and benchmarks that move a fake clock."""
        running: set[asyncio.Task[None]] = set()
        polled = 0
        while True:
            self._wake.clear()
            started = await self.start_due()
            polled += len(started)
            # done(), not a done-callback: the ending poll sets the event before its callbacks run
            running = {task for task in (*running, *started) if not task.done()}
            if not running:
                return polled
            await self._wake.wait()                # a poll ended (its finally sets the event)

    async def start_due(self) -> list[asyncio.Task[None]]:
        """Start the polls that are due and fit (see syndicator.poll_schedule); each ends by itself."""
        schedule = await self.schedule()
        started = []
        now = self.clock.now()
        for source_id, host, due in schedule.take(now):
            self._busy.add(source_id)
            lag = (now - due).total_seconds()
            started.append(asyncio.create_task(self._poll_scheduled(self._by_id[source_id], host, lag)))
        return started

    async def schedule(self) -> PollSchedule:
        """The schedule index, built on first use (and again if the configured source list is replaced)."""
        key = (id(self.settings.sources), len(self.settings.sources))
        if self._schedule is not None and key == self._indexed:
            return self._schedule
        fetch = self.settings.fetch
        schedule = PollSchedule(lambda host: 2 * fetch.politeness(host)[0], fetch.polls_in_flight,
                                fetch.spread_seconds)
        self._by_id = {s.id: s for s in self.sources()}
        planned = [Planned(s.id, host_of(s), s.interval) for s in self._by_id.values() if s.id not in self._busy]
        schedule.load(planned, await self.store.source_schedule(), self.clock.now())
        self._schedule, self._indexed = schedule, key
        return schedule

    async def _poll_scheduled(self, source: SourceSettings, host: str, lag: float) -> None:
        schedule = self._schedule
        assert schedule is not None
        health: SourceHealth | None = None
        try:
            await self.hosts.started(host, lag, source.interval)
            health = await self.store.source_health(source.id)
            if health.next_check_at is None or health.next_check_at <= self.clock.now():
                await self.poll(source, health)
            # else another hub sharing the store polled it meanwhile: follow its schedule
        except Exception:      # recording the poll failed (the store): logged now, polled again when due
            log.exception("poll of source %s could not be recorded; it stays due", source.id)
        finally:
            self._busy.discard(source.id)
            self._wake.set()
            now = self.clock.now()
            later = health.next_check_at if health is not None else None
            if later is None or later <= now:      # the poll could not record its outcome
                later = now + timedelta(seconds=source.interval)
            if schedule is self._schedule:
                schedule.done(source.id, host, later)
            elif self._schedule is not None and source.id in self._by_id:   # the index was rebuilt meanwhile
                self._schedule.set(source.id, host_of(self._by_id[source.id]), later)

    async def check_now(self, source: SourceSettings) -> tuple[int, SourceHealth] | None:
        """An operator's 立即检查: poll this source now, out of its schedule (recorded like any poll, so its
        next check moves on from now). (new items, health after the poll); None when a poll is running."""
        if source.id in self._busy:
            return None
        self._busy.add(source.id)
        try:
            created = await self.poll(source)
        finally:
            self._busy.discard(source.id)
        return created, await self.store.source_health(source.id)

    def fetch_budget(self, source: SourceSettings) -> float:
        """Seconds one fetch of this source may take, waiting included, before the poll gives up on it."""
        timeout = self.settings.fetch.timeout_seconds
        return timeout * FETCH_BUDGET_FACTOR[source.fetch] + min(timeout, 10.0)

    async def poll(self, source: SourceSettings, health: SourceHealth | None = None) -> int:
        """Poll one source now; return how many new items it produced. Never raises for upstream faults."""
        health = health or await self.store.source_health(source.id)
        now = self.clock.now()
        try:
            created, listed = await self._read_and_ingest(source, health, now)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any upstream fault is recorded, never fatal
            await self._failed(source, health, exc, now)
            return 0
        await self._succeeded(source, health, now, listed)
        return created

    async def _within(self, step: Awaitable[T], seconds: float, url: str, what: str) -> T:
        """Run one network step under its deadline; time spent waiting for the host's turn is not counted."""
        deadline = Deadline(seconds)
        try:
            async with deadline:
                return await step
        except TimeoutError:
            if not deadline.expired():
                raise
            raise FetchError(f"{url}: {what} did not finish within {seconds:g} s (poll deadline)", url=url) from None

    async def _read_and_ingest(self, source: SourceSettings, health: SourceHealth, now: datetime,
                               ) -> tuple[int, int | None]:
        """New items created, and entries listed (None when the body was unchanged)."""
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
            return 0, None
        required = [(e, rule) for e in result.entries if (rule := required_by(e, source.rules)) is not None]
        known = await self.store.known_guids(source.id, [e.stable_id for e, _ in required])
        # Marks (a copy of each listed entry) serve article pages only: a source without them keeps none,
        # or a hub watching thousands of feeds would hold every feed's entries in memory.
        refetch = (self.checks.plan(source.id, required, known, now, self._recheck_every(source))
                   if source.article is not None and source.article.enabled else set())
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
            raise ArticlePagesFailed(f"{len(problems)} article page(s) failed: {problems[0]}", url=source.url)
        if warnings:
            said = "；".join(map(source_warning_text, warnings))
            health.last_error, health.last_error_at = "提示：" + said[:2000], now
        if not result.warnings:
            # Only now is the body "seen": a failure before this point re-reads the page next time
            # (and so must the validators wait, or a 304 would hide what failed).
            self._keep_validators(health, result)
        return created, len(result.entries)

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
        if known and filled.body_problem:
            log.warning("source %s: recheck of article %s gave an implausible body, keeping the stored one: %s",
                        source.id, entry.url, filled.body_problem)
            self.checks.recheck_failed(source.id, entry.stable_id, now)
            return None, filled.body_problem
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

    async def _succeeded(self, source: SourceSettings, health: SourceHealth, now: datetime,
                         listed: int | None = None) -> None:
        await self.hosts.succeeded(host_of(source), source.id)
        if (notice := judge(health, source.name, listed, self.settings.fetch.empty_after_polls, now)) is not None:
            log.warning("source %s: %s", source.id, notice)
            await self.alert(source.id, notice)
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
        host_problem = await self.hosts.failed(host_of(source), source.id, exc, health.failing_since, now)
        failing_for = (now - health.failing_since).total_seconds()
        if failing_for >= self.settings.fetch.alert_after_seconds and not health.extra.get("alerted") \
                and not host_problem:              # the host's one alert speaks for it
            hours = failing_for / 3600
            await self.alert(source.id, f"来源持续失败：{source.name} 已连续失败 {health.consecutive_errors} 次、"
                                        f"{hours:.1f} 小时，最近错误：{health.last_error}")
            health.extra["alerted"] = "1"
        await self.store.save_source_health(health)
