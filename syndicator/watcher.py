"""Polls every source on its schedule; the schedule and health live in the store.

A failing source is never dropped: it backs off exponentially to a cap and keeps trying, and
once it has failed longer than ``alert_after_seconds`` a person is alerted (and told again
when it recovers). Retry-After and Cache-Control max-age from upstream are respected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from feeds.model import FetchError
from feeds.reader import SourceReader
from feeds.rules import required_by
from syndicator.clock import Clock
from syndicator.config import Settings, SourceSettings
from syndicator.intake import Intake
from syndicator.models import SourceHealth
from syndicator.store import Store

log = logging.getLogger(__name__)
Alert = Callable[[str, str], Awaitable[None]]


def backoff_seconds(interval: float, errors: int, cap: float, retry_after: float | None = None) -> float:
    delay = min(interval * (2 ** max(errors - 1, 0)), cap)
    return max(delay, retry_after or 0.0)


class Watcher:
    def __init__(self, settings: Settings, store: Store, reader: SourceReader, intake: Intake, clock: Clock,
                 alert: Alert) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self.intake = intake
        self.clock = clock
        self.alert = alert
        self._busy: set[str] = set()

    def sources(self) -> list[SourceSettings]:
        return [s for s in self.settings.sources if s.enabled]

    async def run(self, stop: asyncio.Event) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                for task in await self.start_due():
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.hub.tick_seconds)
                except TimeoutError:
                    pass
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
        finally:
            self._busy.discard(source.id)

    async def poll(self, source: SourceSettings, health: SourceHealth | None = None) -> int:
        """Poll one source now; return how many new items it produced. Never raises for upstream faults."""
        health = health or await self.store.source_health(source.id)
        now = self.clock.now()
        try:
            created = await self._read_and_ingest(source, health)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any upstream fault is recorded, never fatal
            await self._failed(source, health, exc, now)
            return 0
        await self._succeeded(source, health, now)
        return created

    async def _read_and_ingest(self, source: SourceSettings, health: SourceHealth) -> int:
        result = await self.reader.read(source, etag=health.etag, last_modified=health.last_modified,
                                        last_body_hash=health.body_hash)
        health.etag = result.fetch.etag or health.etag
        health.last_modified = result.fetch.last_modified or health.last_modified
        health.extra["max_age"] = str(result.fetch.max_age or "")
        if not result.changed:
            health.body_hash = result.body_hash
            return 0
        required = [(e, rule) for e in result.entries if (rule := required_by(e, source.rules)) is not None]
        known = await self.store.known_guids(source.id, [e.stable_id for e, _ in required])
        created, problems = 0, []
        for entry, rule in required:
            if entry.stable_id not in known:
                try:
                    entry = await self.reader.complete(source, entry)
                except Exception as exc:  # one bad article page must not hide the others
                    problems.append(str(exc))
                    continue
            # Known entries go through intake too: a changed title or body is an update.
            outcome = await self.intake.accept(source, entry, rule)
            created += outcome.status == "created"
        health.items_seen += created
        if problems:
            raise FetchError(f"{len(problems)} article page(s) failed: {problems[0]}", url=source.url)
        # Only now is the body "seen": a crash or failure before this point re-reads the page next time.
        health.body_hash = result.body_hash
        return created

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
        health.last_error = str(exc) or type(exc).__name__
        health.last_error_at = now
        health.failing_since = health.failing_since or now
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        delay = backoff_seconds(source.interval, health.consecutive_errors, self.settings.fetch.backoff_cap_seconds,
                                retry_after)
        health.next_check_at = now + timedelta(seconds=delay)
        log.warning("source %s failed (%d in a row, next try in %.0f s): %s", source.id,
                    health.consecutive_errors, delay, health.last_error)
        failing_for = (now - health.failing_since).total_seconds()
        if failing_for >= self.settings.fetch.alert_after_seconds and not health.extra.get("alerted"):
            hours = failing_for / 3600
            await self.alert(source.id, f"来源持续失败：{source.name} 已连续失败 {health.consecutive_errors} 次、"
                                        f"{hours:.1f} 小时，最近错误：{health.last_error}")
            health.extra["alerted"] = "1"
        await self.store.save_source_health(health)
