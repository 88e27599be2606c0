"""The hub: builds every part from Settings (no globals) and runs them until told to stop.

Shutdown order matters for "nothing is lost": stop watching, stop claiming, let sends in flight
finish (or give them back to the queue), then close the web server, the HTTP session and the store.
Every long-running loop runs under one ``Supervisor``: a failed pass is logged, retried and, when it keeps
failing, alerted, and ``/healthz`` reports the loop by name.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from channels.base import ChannelContext
from channels.manual import ManualChannel
from channels.manual.contacts import Reach
from channels.pages import preferred_kinds
from channels.registry import channel_class
from channels.wechat.callback import make_wechat_callback
from channels.wechat.notify import WechatAdminNotifier
from core.clock import Clock, SystemClock
from core.fetch import Fetcher
from core.host_limits import HostLimits, Politeness
from core.models import UnitRef
from feeds.browser import BrowserFetcher
from feeds.reader import SourceReader
from syndicator.alerting import Directory, PeopleNotifier, alert_title, silenced
from syndicator.calendar import CalendarOverrideError, WorkCalendar
from syndicator.calendar_alerts import CalendarWarnings
from syndicator.calendar_notices import CalendarNotices
from syndicator.config import Settings
from syndicator.console import Console
from syndicator.dashboard import setup_dashboard
from syndicator.deadlines import DeadlineSettings
from syndicator.delays import DelayMonitor
from syndicator.dispatch import Binding, Dispatcher
from syndicator.intake import Intake
from syndicator.manual_desk import ManualDesk
from syndicator.manual_web import add_manual_routes
from syndicator.notify_people import build_people_notifier
from syndicator.operations import Operations
from syndicator.recompute import recompute_deadlines
from syndicator.redact import register_secrets
from syndicator.status import status_report
from syndicator.store import Store, open_store
from syndicator.summary import next_summary_at, summary_text
from syndicator.supervisor import Supervisor
from syndicator.verify.checkers import can_be_seen, checker_for
from syndicator.verify.fetchers import HostRouted
from syndicator.verify.worker import Verifier
from syndicator.watcher import Watcher
from syndicator.web import api_app, start_web
from syndicator.web_keys import (
    CALENDAR,
    CALENDAR_NOTICES,
    CLOCK,
    DISPATCHER,
    MANUAL,
    OPERATIONS,
    SETTINGS,
    STORE,
    SUPERVISOR,
    VERIFIER,
    Refusals,
)
from syndicator.weibo_reauth import WATCH_EVERY_S, check_expiry

log = logging.getLogger(__name__)


def browser_factory(settings: Settings, host_limits: HostLimits | None = None) -> Any:
    """Chromium for sources with fetch = "browser", created on first use (playwright is an optional extra that
    feeds.browser imports only when a browser starts)."""

    def make() -> Any:
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
        self.verifier: Verifier
        self.calendar_warnings: CalendarWarnings
        self.calendar_notices: CalendarNotices
        self.manual: ManualDesk
        self.operations: Operations
        self.web_runner: Any = None
        self.notifier: Any = None
        self.people: PeopleNotifier = PeopleNotifier([])
        self.directory = Directory(settings)
        self._calendar_seen: tuple[tuple[str, float], ...] = ()
        # refused inbound requests by (door, reason, account): counted for /metrics (syndicator.web_auth, callback)
        self.refusals: Refusals = Counter()
        self.supervisor = Supervisor(self.clock, self.alert)
        self._summary_due: datetime | None = None
        register_secrets(v.get_secret_value() for _u, a in settings.accounts() for v in a.credentials.values())

    async def __aenter__(self) -> Hub:
        try:
            return await self._start()
        except BaseException:
            await self._stack.aclose()     # a part that failed to start must not leave the store or session open
            raise

    async def _start(self) -> Hub:
        s = self.settings
        self.store = await open_store(s.storage_url(), self.clock)
        self._stack.push_async_callback(self.store.close)
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(64, s.hub.workers * 2)))
        self._stack.push_async_callback(self.session.close)
        ctx = ChannelContext(session=self.session, kv=self.store.kv, clock=self.clock, alert=self.alert,
                             holder_id=s.hub.instance_id, public_url=s.web.public_url,
                             extra={"base_dir": str(s.base_dir),    # units whose Weibo posts link their own page:
                                    "website_units": preferred_kinds([(u.id, a.kind) for u, a in s.accounts()]),
                                    # manual units: how to reach their people, find their delivery, read pages
                                    "manual_reach": self._manual_reach(), "delivery_by_key": self.store.delivery_by_key,
                                    "fetch": s.fetch})
        bindings: dict[str, Binding] = {}
        for unit, account in s.accounts():
            channel = channel_class(account.kind)(account, ctx)
            self._stack.push_async_callback(channel.close)
            await channel.start()
            bindings[account.id] = Binding(channel, UnitRef(unit.id, unit.name), account.concurrency)
        limits = make_host_limits(s)
        fetcher = Fetcher(self.session, user_agent=s.fetch.user_agent, timeout=s.fetch.timeout_seconds,
                          max_bytes=s.fetch.max_bytes, max_redirects=s.fetch.max_redirects, host_limits=limits)
        self.reader = SourceReader(fetcher, browser_factory(s, limits))
        self._stack.push_async_callback(self.reader.close)
        self.intake = Intake(s, self.store, self.calendar, self.clock)
        self.watcher = Watcher(s, self.store, self.reader, self.intake, self.clock, self.alert)
        self.dispatcher = Dispatcher(s.hub, self.store, bindings, self.clock, self.alert)
        # live verification: its own fetcher (same rules as upstream sources, its own per-host limit) and budget
        verify_fetcher = HostRouted(
            Fetcher(self.session, user_agent=s.fetch.user_agent, timeout=s.fetch.timeout_seconds,
                    max_bytes=s.fetch.max_bytes, max_redirects=s.fetch.max_redirects, per_host=s.verify.per_host),
            browser_factory(s), s.verify.browser_hosts)
        self._stack.push_async_callback(verify_fetcher.close)
        checkers = {account.id: checker_for(account.kind, account.options, bindings[account.id].channel,
                                            verify_fetcher) for _unit, account in s.accounts()}
        self.verifier = Verifier(s.verify, self.store, checkers, self.clock, self.alert)
        self.monitor = self._delay_monitor()
        self._stack.callback(self.monitor.close)
        self.manual = ManualDesk(self.store, {i: b.channel for i, b in bindings.items()
                                              if isinstance(b.channel, ManualChannel)},
                                 self.dispatcher.hint, self.clock.now)
        self.monitor.listeners.append(self.manual.on_delay)
        self.notifier = self._admin_notifier(ctx)
        self.people = build_people_notifier(s.notify, self.session)
        self._stack.push_async_callback(self.people.close)
        self.calendar_warnings = CalendarWarnings(self.calendar, self.store, self.alert, s.deadlines.tz,
                                                  holder=s.hub.instance_id)
        self.calendar_notices = CalendarNotices(self.store, self.calendar, self.clock, self.alert, self.reload_calendar,
                                                s.deadlines.tz)
        self.watcher.notices = self.calendar_notices
        # one Operations for the console, the dashboard and re-authorisation: the running hub's parts, told at once
        self.operations = Operations(s, self.store, self.clock, self.dispatcher, self.calendar_notices,
                                     watcher=self.watcher)
        await self.reload_calendar()
        await self.calendar_notices.refresh()
        await self.calendar_warnings.check(self.clock.now())
        return self

    def _console_account(self) -> Any:
        """The WeChat account the console admins (and manual units' 信息员) follow, if any."""
        c = self.settings.console
        wechat = [a for _u, a in self.settings.accounts() if a.kind == "wechat"]
        return next((a for a in wechat if a.id == c.account), None) if c.account else (wechat or [None])[0]

    def _manual_reach(self) -> Reach:
        s = self.settings
        return Reach(smtp=s.notify.smtp, wecom_base_url=s.notify.wecom_base_url,
                     dingtalk_base_url=s.notify.dingtalk_base_url, wechat_account=self._console_account(),
                     template_id=s.console.alert_template_id, template_fields=s.console.alert_template_fields)

    def _admin_notifier(self, ctx: ChannelContext) -> Any:
        """Pushes alerts to the WeChat admins (best effort), when a console is configured."""
        c = self.settings.console
        wechat = [a for _u, a in self.settings.accounts() if a.kind == "wechat"]
        account = next((a for a in wechat if a.id == c.account), None) if c.account else (wechat or [None])[0]
        if not (c.admins and c.push_alerts and account is not None):
            return None
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
                            horizon_hours=self.settings.max_at_risk_hours(),
                            verify_grace=(timedelta(minutes=self.settings.verify.grace_minutes)
                                          if self.settings.verify.enabled else None),
                            seeable=lambda account, url: can_be_seen(self.verifier.checkers.get(account), url))

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
        await self.calendar_notices.refresh()      # a notice another hub found, or confirmed
        await self.calendar_warnings.check(self.clock.now())

    async def beat(self) -> None:
        """This hub's heartbeat (and its loops' health, for `status` elsewhere): survivors take over the claims
        of a hub whose heartbeat expired."""
        now = self.clock.now()
        expires = now + timedelta(seconds=self.settings.hub.heartbeat_timeout_seconds)
        await self.store.beat(self.settings.hub.instance_id, now, expires, self.supervisor.snapshot())

    def _console_answer(self) -> Any:
        """The WeChat admin console's answer function, or None when no admins or informants are configured."""
        settings = self.settings.console
        if not settings.admins and not self.manual.informants():
            return None
        status = functools.partial(status_report, self.store, self.settings, self.calendar, self.clock,
                                   self.supervisor)
        return Console(self.operations, status, settings, self.clock, self.manual).answer

    def web_app(self) -> web.Application:
        """The web app with its keys (syndicator.web_keys) filled from this hub's parts, and the doors this
        configuration has: WeChat callbacks, manual units' pages, the dashboard. Handlers never see the hub."""
        s = self.settings
        app = api_app(s.web, self.refusals)
        app[STORE], app[SETTINGS], app[CLOCK], app[CALENDAR] = self.store, s, self.clock, self.calendar
        app[CALENDAR_NOTICES], app[OPERATIONS] = self.calendar_notices, self.operations
        app[SUPERVISOR], app[DISPATCHER], app[VERIFIER] = self.supervisor, self.dispatcher, self.verifier
        app[MANUAL] = self.manual
        wechat_accounts = {a.id: a for _u, a in s.accounts() if a.kind == "wechat"}
        if wechat_accounts:
            handler = make_wechat_callback(
                wechat_accounts, self.dispatcher.hint, self._console_answer(), self.store.kv, clock=self.clock,
                refused=lambda account, reason: self.refusals.update([("wechat_callback", reason, account)]))
            app.router.add_route("*", "/wechat/callback/{account_id}", handler)
        if self.manual.channels:
            add_manual_routes(app)
        if s.dashboard.enabled:
            setup_dashboard(app, s.dashboard)
        return app

    async def _ensure_web(self) -> None:
        if self.web_runner is None:
            self.web_runner = await start_web(self.web_app(), self.settings.web)

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def alert(self, subject: str, message: str) -> None:
        """Something a person must know: named (unit, account), with what to do; logged, stored for the
        dashboard and console, and pushed to the admins and the people who asked for it unless silenced."""
        facts = self.directory.classify(subject, message)
        text = self.directory.compose(facts, message)
        now = self.clock.now()
        log.warning("ALERT [%s] %s", subject, text.replace("\n", " "))
        await self.store.add_alert(subject, text, now, category=facts.category, unit_id=facts.unit_id,
                                   account_id=facts.account_id)
        quiet = silenced(await self.store.active_silences(now), facts)
        if quiet is not None:
            log.info("alert not pushed: %s alerts for %s silenced by %s until %s", facts.category,
                     quiet["target"] or "all", quiet["created_by"], quiet["until_at"])
            return
        if self.notifier is not None:
            await self.notifier.notify(text)
        self.people.notify(facts, alert_title(facts), text)

    async def send_daily_summary(self) -> bool:
        """The morning summary to the people who want it; one hub sends it per day. True: sent by us."""
        s = self.settings
        now = self.clock.now()
        day = now.astimezone(s.deadlines.tz).date().isoformat()
        # the lease makes one hub the sender of the day; the mark keeps that hub from sending twice
        if not await self.store.kv.lease(f"daily-summary:{day}", s.hub.instance_id, 36 * 3600):
            return False
        if await self.store.kv.get(f"daily-summary-sent:{day}"):
            return False
        await self.store.kv.put(f"daily-summary-sent:{day}", now.isoformat(), 36 * 3600)
        title, text = await summary_text(self.store, {u.id: u.name for u in s.units}, now, s.deadlines.tz)
        sent = await self.people.send_to_all(title, text, only=lambda p: p.daily_summary)
        await self.store.add_alert("operator:系统", f"已发送每日摘要（{sent} 条消息）", now, kind="action")
        return True

    async def summary_tick(self) -> None:
        """One pass of the daily-summary loop: send once the clock has passed the configured time. The next due
        time moves on only after a send, so a failed one is retried by the supervisor's backoff."""
        at, tz = self.settings.notify.daily_summary_at, self.settings.deadlines.tz
        if not at or not self.people.recipients:
            return
        now = self.clock.now()
        if self._summary_due is None:
            self._summary_due = next_summary_at(now, at, tz)
        if now >= self._summary_due:
            await self.send_daily_summary()
            self._summary_due = next_summary_at(self.clock.now(), at, tz)

    async def check_weibo_expiry(self) -> int:
        """One pass of the Weibo token-expiry watch (syndicator.weibo_reauth)."""
        return await check_expiry(self.dispatcher.bindings, self.store, self.clock, self.alert)

    async def run(self, stop: asyncio.Event) -> None:
        """Run watcher, dispatcher, delay monitor and web server until ``stop`` is set."""
        sup, hub = self.supervisor, self.settings.hub
        await self.store.hub_started(hub.instance_id, self.clock.now(),
                                     self.clock.now() + timedelta(seconds=hub.heartbeat_timeout_seconds))
        watch_stop, beat_stop = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(sup.loop("web", self._ensure_web, watch_stop, 30.0), name="web"),
            asyncio.create_task(self.watcher.run(watch_stop, sup), name="watcher"),
            asyncio.create_task(self.dispatcher.run(stop, sup), name="dispatcher"),
            asyncio.create_task(sup.loop("delay-monitor", self.monitor.scan, watch_stop, 60.0), name="delay-monitor"),
            asyncio.create_task(sup.loop("calendar", self.calendar_tick, watch_stop, 30.0), name="calendar"),
            asyncio.create_task(sup.loop("daily-summary", self.summary_tick, watch_stop, 60.0), name="daily-summary"),
        ]
        if self.settings.verify.enabled:
            tasks.append(asyncio.create_task(sup.loop("verifier", self.verifier.tick, watch_stop,
                                                      self.settings.verify.tick_seconds), name="verifier"))
        if any(a.kind == "weibo" for _u, a in self.settings.accounts()):
            tasks.append(asyncio.create_task(sup.loop("weibo-token-expiry", self.check_weibo_expiry, watch_stop,
                                                      WATCH_EVERY_S), name="weibo-token-expiry"))
        heartbeat = asyncio.create_task(sup.loop("heartbeat", self.beat, beat_stop, hub.heartbeat_seconds),
                                        name="heartbeat")
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
            beat_stop.set()           # beating until the sends in flight were drained: they were still ours
            await asyncio.gather(heartbeat, return_exceptions=True)
            try:
                await self.store.hub_stopped(hub.instance_id)
            except Exception as exc:
                log.warning("could not remove this hub's heartbeat (%s); it will simply expire", exc)
            if self.web_runner is not None:
                await self.web_runner.cleanup()
            log.info("stopped cleanly")
