"""The delay monitor: every delay goes on record once, with a reason an inspector accepts.

A scan records, at most once per delivery and kind (the store's UNIQUE key makes this hold across
hub processes): ``at_risk`` (open, within ``at_risk_hours`` of the deadline), ``overdue`` (open,
past it), ``delivered_late``, ``failed`` and ``skipped``. The reason is built from facts only —
channel errors from the attempts table, account pauses, late detection upstream, provisional
deadlines, the operator's words — never from guesses. Each new record is also appended to a
rotated JSON-lines file for log shippers (syndicator.delay_log); at_risk and overdue raise an alert
for the account. Records superseded by a recomputed deadline are derived again here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.clock import Clock
from core.models import Alert, CauseKind, DelayCause, DelayKind, DelayRecord
from syndicator.calendar import WorkCalendar
from syndicator.deadlines import DeadlineSettings, is_at_risk, lateness
from syndicator.delay_log import DelayLog
from syndicator.labels import NOT_VISIBLE_REASON, cause_text, hours_text, local_text, reason_text
from syndicator.store import Store
from syndicator.store.reports import AttemptHistory, DeliveryFacts

log = logging.getLogger(__name__)
Listener = Callable[[DelayKind, DelayRecord], Awaitable[None]]
SettingsFor = Callable[[str | None], DeadlineSettings]
Prior = Mapping[str, Sequence[DelayCause]]       # the causes already on record for a delivery, by delay kind

_FINAL_KIND = {"delivered": DelayKind.DELIVERED_LATE, "failed": DelayKind.FAILED, "skipped": DelayKind.SKIPPED}
_OPEN_KINDS = (DelayKind.AT_RISK, DelayKind.OVERDUE)
_BASELINE = "【基线稿件，未纳入考核】"
_COUNT = re.compile(r"（共 \d+ 次）$")
_SPACE = re.compile(r"\s+")
_RAW_MAX = 40           # upstream date text quoted in a reason
_NOT_INHERITED = {CauseKind.QUEUED, CauseKind.SENDING}  # true while open, misleading on a finished delivery


def _iso(when: datetime) -> str:
    return when.isoformat()


def derive_causes(kind: DelayKind, f: DeliveryFacts, at: datetime, hist: AttemptHistory | None, prior: Prior,
                  s: DeadlineSettings, cal: WorkCalendar, lag_hours: float) -> tuple[DelayCause, ...]:
    """The facts that explain this delay, as data (rendered by syndicator.labels)."""
    tz = s.tz
    if kind is DelayKind.NOT_VISIBLE:       # syndicator.verify: the platform took it, the public cannot see it
        return (DelayCause(CauseKind.VERIFY_NOTE, {"note": f.note}) if f.note
                else DelayCause(CauseKind.NOT_VERIFIED),)
    causes: list[DelayCause] = []
    said: list[str] = []

    def add(kind_: CauseKind, **facts: Any) -> None:
        add_cause(DelayCause(kind_, facts))

    def add_cause(cause: DelayCause) -> None:   # skip facts already stated (an inherited count may differ)
        text = cause_text(cause, tz)
        if text and not any(_COUNT.sub("", text) in c for c in said):
            causes.append(cause)
            said.append(text)

    if kind in _OPEN_KINDS:
        if f.account_state == "paused":
            add(CauseKind.ACCOUNT_PAUSED, reason=f.account_reason)
        elif f.account_state == "platform_hold":
            add(CauseKind.PLATFORM_HOLD, reason=f.account_reason)
        elif f.account_state == "needs_reauth":
            add(CauseKind.NEEDS_REAUTH, reason=f.account_reason)
    for error, times in (hist.errors.items() if hist else ()):
        if error and not (kind is DelayKind.FAILED and error == f.last_error):
            add(CauseKind.CHANNEL_ERROR, error=error, times=times)
    if kind in _OPEN_KINDS:
        if f.last_error:   # e.g. held by a pause, or interrupted by a restart: not in the attempts table
            add(CauseKind.CHANNEL_ERROR, error=f.last_error, times=1)
        if f.ambiguous:
            add(CauseKind.AMBIGUOUS)
        if f.state == "confirming" and f.channel_kind == "manual":   # channels.manual: a person must publish
            add(CauseKind.MANUAL_WAITING, note=f.note)
        elif f.state == "confirming":
            add(CauseKind.CONFIRMING, note=f.note)
        elif f.state == "sending":
            add(CauseKind.SENDING)
    else:
        for earlier in (*prior.get(DelayKind.AT_RISK, ()), *prior.get(DelayKind.OVERDUE, ())):
            if earlier.kind not in _NOT_INHERITED:
                add_cause(earlier)
    queued = kind in _OPEN_KINDS and f.state == "pending" and f.attempts == 0 and not causes
    detected = f.anchor_at if f.anchor_kind == "updated" else f.detected_at  # when this version was found
    if f.anchor_kind == "updated":
        add(CauseKind.UPDATED, at=_iso(f.anchor_at))
    elif f.anchor_kind == "baseline" and f.published_at is not None:
        add(CauseKind.BASELINE, published_at=_iso(f.published_at))
    elif f.published_at is None and f.date_problem:
        raw = _SPACE.sub(" ", f.published_raw).strip()
        add(CauseKind.DATE_UNREADABLE, raw=raw if len(raw) <= _RAW_MAX else raw[:_RAW_MAX] + "…")
    elif f.published_at is None:
        add(CauseKind.NO_DATE)
    elif f.anchor_kind in ("detected", "implausible"):
        add(CauseKind.DATE_IMPLAUSIBLE, published_at=_iso(f.published_at),
            gap_hours=(f.detected_at - f.published_at).total_seconds() / 3600)
    elif f.detected_at - f.published_at > timedelta(hours=lag_hours):
        add(CauseKind.DETECTED_LATE, published_at=_iso(f.published_at), detected_at=_iso(f.detected_at),
            note=f.detection_note)
    if detected >= f.deadline_at:
        add(CauseKind.DETECTED_AFTER_DEADLINE)
    elif f.deadline_at - detected <= timedelta(hours=s.at_risk_hours):
        add(CauseKind.DETECTED_NEAR_DEADLINE, hours=(f.deadline_at - detected).total_seconds() / 3600)
    if kind is DelayKind.DELIVERED_LATE:
        if hist is None or hist.first_started_at is None or hist.first_started_at > f.deadline_at:
            add(CauseKind.FIRST_SEND_LATE, backlog=not causes)
        if f.possible_duplicate:
            add(CauseKind.POSSIBLE_DUPLICATE)
        if f.note:
            add(CauseKind.PLATFORM_NOTE, note=f.note)
    if f.provisional:
        years = range(f.anchor_at.astimezone(tz).year, f.deadline_at.astimezone(tz).year + 1)
        missing = [y for y in years if cal.coverage(y) == "fallback"] or [f.deadline_at.astimezone(tz).year]
        add(CauseKind.PROVISIONAL, years=missing)
    if queued:
        add(CauseKind.QUEUED)
    return tuple(causes)


def build_reason(kind: DelayKind, f: DeliveryFacts, at: datetime, hist: AttemptHistory | None,
                 prior: Prior, s: DeadlineSettings, cal: WorkCalendar, lag_hours: float) -> str:
    """Simplified Chinese reason: what happened, then the facts that explain it."""
    return derive(kind, f, at, hist, prior, s, cal, lag_hours)[0]


def derive(kind: DelayKind, f: DeliveryFacts, at: datetime, hist: AttemptHistory | None, prior: Prior,
           s: DeadlineSettings, cal: WorkCalendar, lag_hours: float) -> tuple[str, tuple[DelayCause, ...]]:
    """The record's reason and the causes it was rendered from."""
    causes = derive_causes(kind, f, at, hist, prior, s, cal, lag_hours)
    tz, due = s.tz, local_text(f.deadline_at, s.tz)
    clock_h, work_h = lateness(f.deadline_at, at, s, cal)
    late = f"{hours_text(clock_h)} 小时（工作时间 {hours_text(work_h)} 小时）"
    lead_in = _BASELINE if f.anchor_kind == "baseline" and kind is not DelayKind.NOT_VISIBLE else ""
    related = False
    if kind is DelayKind.NOT_VISIBLE:
        sent = local_text(f.delivered_at, tz) if f.delivered_at else "截止时间前"
        lead = f"{NOT_VISIBLE_REASON}：于 {sent} 发送，截止时间（{due}）已过 {late}，公开页面仍未见到该稿件"
    elif kind is DelayKind.AT_RISK:
        hours_left = (f.deadline_at - at).total_seconds() / 3600
        lead = f"距截止时间（{due}）仅剩 {hours_text(hours_left)} 小时，尚未发布"
    elif kind is DelayKind.OVERDUE:
        lead = f"已超过截止时间（{due}）{late}，尚未发布"
    elif kind is DelayKind.DELIVERED_LATE:
        lead = f"于 {local_text(at, tz)} 发布，晚于截止时间（{due}）{late}"
    else:
        related = True
        lead = (f"发送失败且已停止重试，需人工处理：{f.last_error or '平台未返回原因'}" if kind is DelayKind.FAILED
                else f"经人工决定不转载：{f.note or '未填写理由'}")
        if clock_h > 0:
            lead += f"（{'失败' if kind is DelayKind.FAILED else '跳过'}时已超过截止时间（{due}）{late}）"
    return lead_in + reason_text(lead, causes, tz, related=related), causes


class DelayMonitor:
    """Periodic scan that puts every delay on record (store, JSON-lines log, alerts)."""

    def __init__(self, store: Store, settings_for: SettingsFor, calendar: WorkCalendar, clock: Clock,
                 log_path: Path | None = None, alert: Alert | None = None, *, horizon_hours: float = 72.0,
                 lookback_days: float = 35.0, margin_days: float = 7.0, straggler_days: float = 400.0,
                 detection_lag_hours: float = 2.0, log_max_bytes: int = 10_000_000, log_backups: int = 10,
                 verify_grace: timedelta | None = None,
                 seeable: Callable[[str, str | None], bool] | None = None) -> None:
        """``horizon_hours`` must be at least the largest ``at_risk_hours`` of any source (the hub passes
        ``Settings.max_at_risk_hours()``).

        Finished deliveries are looked for by deadline since the previous scan minus ``margin_days``
        (items detected late get deadlines in the past, counted from their upstream time),
        since ``lookback_days`` on the first scan after start, plus any recorded overdue in
        ``straggler_days``.
        """
        self.store, self.settings_for, self.calendar, self.clock = store, settings_for, calendar, clock
        self.alert = alert
        self.horizon = timedelta(hours=horizon_hours)
        self.lookback, self.margin = timedelta(days=lookback_days), timedelta(days=margin_days)
        self.straggler = timedelta(days=straggler_days)
        self.lag_hours = detection_lag_hours
        # live verification on: a reprint sent on time but not seen by its deadline (or never checked within
        # this grace after it) is put on record as not visible (syndicator.verify)
        self.verify_grace = verify_grace
        self.seeable = seeable      # (account, public URL) -> could a check see it at all (JPush: never)
        self._last_scan: datetime | None = None
        # told of each new at_risk / overdue record after its alert (e.g. reminding a manual unit's 信息员)
        self.listeners: list[Listener] = []
        self.delay_log = (DelayLog(Path(log_path), log_max_bytes, log_backups, settings_for(None).tz)
                          if log_path is not None else None)

    def close(self) -> None:
        if self.delay_log is not None:
            self.delay_log.close()
            self.delay_log = None

    async def scan(self) -> list[DelayRecord]:
        """One pass; returns the records added by this pass (none when nothing new happened)."""
        now = self.clock.now()
        since = (self._last_scan or now - self.lookback) - self.margin
        todo: list[tuple[DelayKind, DeliveryFacts, datetime]] = []
        for f in await self.store.open_due(now, now + self.horizon):
            if f.deadline_at < now:
                todo.append((DelayKind.OVERDUE, f, now))
            elif is_at_risk(f.deadline_at, now, self.settings_for(f.source_id)):
                todo.append((DelayKind.AT_RISK, f, now))
        for f in await self.store.finished_unrecorded(since, now - self.straggler):
            at = f.delivered_at if f.state == "delivered" and f.delivered_at else f.updated_at
            todo.append((_FINAL_KIND[f.state], f, at))
        if self.verify_grace is not None:
            for f, url, state in await self.store.sent_not_visible(now, now - self.verify_grace, now - self.lookback):
                # never checked (the verifier was not running): only where a check could have seen it
                if state == "not_visible" or self.seeable is None or self.seeable(f.account_id, url):
                    todo.append((DelayKind.NOT_VISIBLE, f, now))
        ids = [f.id for _, f, _ in todo]
        history = await self.store.attempt_history(ids)
        prior = await self.store.delay_causes(ids)
        added: list[DelayRecord] = []
        for kind, f, at in todo:
            record = self._record(kind, f, at, now, history.get(f.id), prior.get(f.id, {}))
            if await self.store.add_delay(record):
                added.append(record)
                self._write(record, f)
                if (kind in _OPEN_KINDS or kind is DelayKind.NOT_VISIBLE) and f.anchor_kind != "baseline":
                    # a backlog found at start is no alarm
                    await self._alert(kind, record)
                    await self._tell(kind, record)
        self._last_scan = now
        if added:
            log.info("delay monitor: %d new delay records (%s)", len(added),
                     ", ".join(sorted({r.kind.value for r in added})))
        return added

    def _record(self, kind: DelayKind, f: DeliveryFacts, at: datetime, now: datetime, hist: AttemptHistory | None,
                prior: Prior) -> DelayRecord:
        s = self.settings_for(f.source_id)
        clock_h, work_h = lateness(f.deadline_at, at, s, self.calendar) if kind is not DelayKind.AT_RISK else (0.0, 0.0)
        reason, causes = derive(kind, f, at, hist, prior, s, self.calendar, self.lag_hours)
        return DelayRecord(
            delivery_id=f.id, kind=kind, recorded_at=now, reason=reason, causes=causes,
            late_clock_hours=clock_h, late_working_hours=work_h, unit_id=f.unit_id, account_id=f.account_id,
            channel_kind=f.channel_kind, item_title=f.title, deadline_at=f.deadline_at)

    def _write(self, record: DelayRecord, f: DeliveryFacts) -> None:
        if self.delay_log is not None:
            self.delay_log.delay(record, f)

    async def _alert(self, kind: DelayKind, r: DelayRecord) -> None:
        if self.alert is None:
            return
        heads = {DelayKind.AT_RISK: "【即将超时】", DelayKind.NOT_VISIBLE: f"【{NOT_VISIBLE_REASON}】"}
        head = heads.get(kind, "【已超时】")
        hint = ("\n处理建议：请联系单位核实该稿件是否已在公开页面发布（如 CMS 待审核、页面未生成或未被网站引用），"
                "发布后系统会自动核验" if kind is DelayKind.NOT_VISIBLE else "")
        try:
            await self.alert(r.account_id,
                             f"{head}{r.unit_id}《{r.item_title}》（投递 #{r.delivery_id}）：{r.reason}{hint}")
        except Exception:  # the record is what matters; a broken alert path must not stop the scan
            log.exception("delay alert for delivery %s failed", r.delivery_id)

    async def _tell(self, kind: DelayKind, r: DelayRecord) -> None:
        for listener in self.listeners:
            try:
                await listener(kind, r)
            except Exception:  # as with alerts: the record stands whatever a listener does
                log.exception("delay listener for delivery %s failed", r.delivery_id)

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        """Scan every ``interval_s`` seconds until ``stop`` is set; a failed scan is logged and retried."""
        try:
            while not stop.is_set():
                try:
                    await self.scan()
                except Exception:
                    log.exception("delay scan failed; retrying in %.0f s", interval_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval_s)
        finally:
            self.close()
