"""The hub: builds every part from Settings (no globals) and runs them until told to stop.

Shutdown order matters for "nothing is lost": stop watching, stop claiming, let sends in flight
finish (or give them back to the queue), then close the web server, the HTTP session and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from typing import Any

import aiohttp

from channels.base import ChannelContext
from channels.registry import channel_class
from feeds.fetch import Fetcher
from feeds.host_limits import HostLimits, Politeness
from feeds.reader import SourceReader
from syndicator.calendar import CalendarOverrideError, WorkCalendar
from syndicator.calendar_alerts import CalendarWarnings
from syndicator.clock import Clock, SystemClock
from syndicator.config import Settings
from syndicator.deadlines import DeadlineSettings
from syndicator.delays import DelayMonitor
from syndicator.dispatch import Binding, Dispatcher
from syndicator.intake import Intake
from syndicator.models import UnitRef
from syndicator.recompute import recompute_deadlines
from syndicator.store import Store, open_store
from syndicator.watcher import Watcher

log = logging.getLogger(__name__)


def browser_factory(settings: Settings, host_limits: HostLimits | None = None) -> Any:
    """Chromium for sources with fetch = "browser", created on first use (an optional extra)."""

    def make() -> Any:
        from feeds.browser import BrowserFetcher

        f = settings.fetch
        return BrowserFetcher(timeout=f.timeout_seconds, max_bytes=f.max_bytes, user_agent=f.user_agent,
                              max_redirects=f.max_redirects, per_host=f.per_host_concurrency, host_limits=host_limits)

    return make


def make_host_limits(settings: Settings) -> HostLimits:
    """One politeness queue per upstream host, shared by the HTTP and the browser fetcher."""
    f = settings.fetch
    hosts = {host: Politeness(*f.politeness(host)) for host in f.hosts}
    return HostLimits(f.per_host_concurrency, min_gap=f.min_gap_seconds, hosts=hosts,
                      max_block=f.backoff_cap_seconds)


class Hub:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.calendar = WorkCalendar(settings.path(settings.calendar_dir))
        self._stack = AsyncExitStack()
        self.store: Store
        self.session: aiohttp.ClientSession
        self.dispatcher: Dispatcher
        self.watcher: Watcher
        self.reader: SourceReader
        self.intake: Intake
        self.monitor: DelayMonitor
        self.calendar_warnings: CalendarWarnings
        self.web_runner: Any = None
        self.notifier: Any = None
        self._calendar_seen: tuple[tuple[str, float], ...] = ()

    async def __aenter__(self) -> Hub:
        s = self.settings
        self.store = await open_store(s.storage_url(), self.clock)
        self._stack.push_async_callback(self.store.close)
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(64, s.hub.workers * 2)))
        self._stack.push_async_callback(self.session.close)
        ctx = ChannelContext(session=self.session, kv=self.store.kv, clock=self.clock, alert=self.alert,
                             holder_id=s.hub.instance_id, public_url=s.web.public_url,
                             extra={"base_dir": str(s.base_dir)})
        bindings: dict[str, Binding] = {}
        for unit, account in s.accounts():
            channel = channel_class(account.kind)(account, ctx)
            self._stack.push_async_callback(channel.close)
            bindings[account.id] = Binding(channel, UnitRef(unit.id, unit.name), account.concurrency)
        limits = make_host_limits(s)
        fetcher = Fetcher(self.session, user_agent=s.fetch.user_agent, timeout=s.fetch.timeout_seconds,
                          max_bytes=s.fetch.max_bytes, max_redirects=s.fetch.max_redirects, host_limits=limits)
        self.reader = SourceReader(fetcher, browser_factory(s, limits))
        self._stack.push_async_callback(self.reader.close)
        self.intake = Intake(s, self.store, self.calendar, self.clock)
        self.watcher = Watcher(s, self.store, self.reader, self.intake, self.clock, self.alert)
        self.dispatcher = Dispatcher(s.hub, self.store, bindings, self.clock, self.alert)
        self.monitor = self._delay_monitor()
        self._stack.callback(self.monitor.close)
        self.notifier = self._admin_notifier(ctx)
        self.calendar_warnings = CalendarWarnings(self.calendar, self.store, self.alert, s.deadlines.tz,
                                                  holder=s.hub.instance_id)
        await self.reload_calendar()
        await self.calendar_warnings.check(self.clock.now())
        return self

    def _admin_notifier(self, ctx: ChannelContext) -> Any:
        """Pushes alerts to the WeChat admins (best effort), when a console is configured."""
        c = self.settings.console
        wechat = [a for _u, a in self.settings.accounts() if a.kind == "wechat"]
        account = next((a for a in wechat if a.id == c.account), None) if c.account else (wechat or [None])[0]
        if not (c.admins and c.push_alerts and account is not None):
            return None
        from channels.wechat.notify import WechatAdminNotifier

        notifier = WechatAdminNotifier.for_account(account, ctx, c.admins, c.alert_template_id,
                                                   template_fields=c.alert_template_fields)
        self._stack.push_async_callback(notifier.close)
        return notifier

    def deadline_settings_for(self, source_id: str | None) -> DeadlineSettings:
        """A source's ``[sources.deadline]`` fields layered over ``[deadlines]``."""
        return self.settings.deadlines_for(source_id)

    def _delay_monitor(self) -> DelayMonitor:
        return DelayMonitor(self.store, self.deadline_settings_for, self.calendar, self.clock,
                            self.settings.path(self.settings.hub.data_dir) / "delays.jsonl", self.alert,
                            horizon_hours=self.settings.max_at_risk_hours())

    def _calendar_stamp(self) -> tuple[tuple[str, float], ...]:
        directory = self.calendar.override_dir
        if directory is None or not directory.is_dir():
            return ()
        return tuple(sorted((p.name, p.stat().st_mtime) for p in directory.glob("*.toml")))

    async def reload_calendar(self) -> int:
        """Re-read calendar overrides and recompute the deadlines they affect (start-up, SIGHUP, file
        change); return how many deliveries changed."""
        self._calendar_seen = self._calendar_stamp()
        before = self.calendar.override_days()
        try:
            self.calendar.reload()
        except CalendarOverrideError as exc:
            await self.alert("calendar", f"节假日覆盖文件有误，仍使用原有安排：{exc}")
            return 0
        result = await recompute_deadlines(self.store, self.calendar, self.deadline_settings_for, self.clock.now(),
                                           self.monitor.delay_log, previous=before)
        if result.changed:
            log.info("calendar reloaded: %d deadlines recomputed, %d delay records superseded",
                     result.changed, result.superseded)
        return result.changed

    async def calendar_tick(self) -> None:
        """One pass of the calendar watch: reload on a changed override file, then raise warnings
        that have appeared (next year uncovered from 1 December, a fallback year first used)."""
        if self._calendar_stamp() != self._calendar_seen:
            await self.reload_calendar()
        await self.calendar_warnings.check(self.clock.now())

    async def _watch_calendar(self, stop: asyncio.Event, every: float = 30.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if not stop.is_set():
                try:
                    await self.calendar_tick()
                except Exception:
                    log.exception("calendar check failed; retrying in %.0f s", every)

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def alert(self, subject: str, message: str) -> None:
        """Something a person must know: logged, stored for the dashboard and console."""
        log.warning("ALERT [%s] %s", subject, message)
        await self.store.add_alert(subject, message, self.clock.now())
        if self.notifier is not None:
            await self.notifier.notify(message)

    async def run(self, stop: asyncio.Event) -> None:
        """Run watcher, dispatcher, delay monitor and web server until ``stop`` is set."""
        from syndicator.web import start_web

        self.web_runner = await start_web(self)
        watch_stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self.watcher.run(watch_stop), name="watcher"),
            asyncio.create_task(self.dispatcher.run(stop), name="dispatcher"),
            asyncio.create_task(self.monitor.run(watch_stop, 60.0), name="delay-monitor"),
            asyncio.create_task(self._watch_calendar(watch_stop), name="calendar-watch"),
        ]
        try:
            await stop.wait()
        finally:
            log.info("stopping: no new polls or claims; finishing sends in flight")
            watch_stop.set()
            stop.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for task, result in zip(tasks, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    log.error("%s ended with %r", task.get_name(), result)
            if self.web_runner is not None:
                await self.web_runner.cleanup()
            log.info("stopped cleanly")
