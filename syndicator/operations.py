"""What an operator can do, in one place for the CLI, the dashboard and the WeChat console.

Every action is recorded in the alert log with who did it, so the record shows why a delivery was
retried, skipped or held. Messages returned are Simplified Chinese, ready to show to a person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock
from syndicator.alerting import CATEGORY_LABELS
from syndicator.calendar import WorkCalendar
from syndicator.calendar_notices import CalendarNotices
from syndicator.config import Settings
from syndicator.corrections import correct_upstream_time
from syndicator.delays import local_text
from syndicator.dispatch import Dispatcher
from syndicator.source_problems import fetch_problem_text
from syndicator.store import Store
from syndicator.watcher import Watcher

SILENCE_MAX_DAYS = 30              # a silence longer than a month is forgotten, not a silence
CHECK_WAIT_SECONDS = 40.0          # 立即检查 answers within this (under a reverse proxy's usual 60 s)
_BACKGROUND: set[asyncio.Task[Any]] = set()   # checks still running after their answer was given
BULK_MAX = 500                     # deliveries one bulk action may touch (a page shows 50)


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


class Operations:
    def __init__(self, settings: Settings, store: Store, clock: Clock, dispatcher: Dispatcher | None = None,
                 calendar_notices: CalendarNotices | None = None, watcher: Watcher | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.dispatcher = dispatcher        # a running hub's dispatcher, told at once (else it notices in 5 s)
        self.calendar_notices = calendar_notices   # a running hub's, so a confirmation reloads it at once
        self.watcher = watcher              # a running hub's, for 立即检查 (its poll is recorded as usual)

    def account_ids(self) -> set[str]:
        return {a.id for _u, a in self.settings.accounts()}

    async def _audit(self, actor: str, message: str) -> None:
        await self.store.add_alert(f"operator:{actor}", message, self.clock.now(), kind="action")

    async def retry(self, delivery_id: int, actor: str) -> Outcome:
        if not await self.store.retry_now(delivery_id, self.clock.now()):
            return Outcome(False, f"投递 #{delivery_id} 不存在或已完成，无法重试")
        await self._audit(actor, f"{actor} 将投递 #{delivery_id} 重新排队")
        self._wake()
        d = await self.store.get_delivery(delivery_id)
        state = (await self.store.account_states()).get(d.account_id, ("active", None))[0] if d else "active"
        if d is not None and state != "active":      # queued, but its account sends nothing until resumed
            why = "已暂停" if state == "paused" else "需重新授权"
            return Outcome(True, f"投递 #{delivery_id} 已重新排队，但账号 {d.account_id} {why}，恢复该账号后才会发送")
        return Outcome(True, f"投递 #{delivery_id} 已重新排队")

    async def skip(self, delivery_id: int, reason: str, actor: str) -> Outcome:
        reason = reason.strip()
        if not reason:
            return Outcome(False, "跳过必须填写理由（将记入延误记录）")
        if not await self.store.skip(delivery_id, self.clock.now(), f"{reason}（{actor}）"):
            return Outcome(False, f"投递 #{delivery_id} 不存在、已发布或正在发送，无法跳过")
        await self._audit(actor, f"{actor} 跳过投递 #{delivery_id}：{reason}")
        return Outcome(True, f"投递 #{delivery_id} 已跳过：{reason}")

    async def retry_many(self, delivery_ids: list[int], actor: str) -> Outcome:
        """Bulk retry: each delivery is retried (and audited) on its own; the answer counts both outcomes."""
        return await self._many(delivery_ids, "重试", lambda d: self.retry(d, actor))

    async def skip_many(self, delivery_ids: list[int], reason: str, actor: str) -> Outcome:
        """Bulk skip with one reason (required: it goes into the delay log of each)."""
        if not reason.strip():
            return Outcome(False, "批量跳过必须填写理由（将记入每条投递的延误记录）")
        return await self._many(delivery_ids, "跳过", lambda d: self.skip(d, reason, actor))

    async def _many(self, delivery_ids: list[int], verb: str,
                    one: Callable[[int], Awaitable[Outcome]]) -> Outcome:
        ids = list(dict.fromkeys(delivery_ids))
        if not ids:
            return Outcome(False, f"请先勾选要{verb}的投递")
        if len(ids) > BULK_MAX:
            return Outcome(False, f"一次最多{verb} {BULK_MAX} 条投递，请分批操作")
        done, refused = [], []
        for delivery_id in ids:
            (done if (await one(delivery_id)).ok else refused).append(delivery_id)
        text = f"批量{verb}：成功 {len(done)} 条"
        if refused:
            shown = "、".join(f"#{i}" for i in refused[:10]) + (" 等" if len(refused) > 10 else "")
            text += f"，{len(refused)} 条未能{verb}（{shown}：不存在、已完成或正在发送）"
        return Outcome(bool(done), text)

    async def check_source(self, source_id: str, actor: str) -> Outcome:
        """立即检查: poll one source now and say what came of it (new items, or why it failed); audited."""
        source = next((s for s in self.settings.sources if s.id == source_id), None)
        if source is None:
            return Outcome(False, f"没有信息源 {source_id}")
        if not source.enabled:
            return Outcome(False, f"信息源“{source.name}”已停用，不能检查")
        if self.watcher is None:
            return Outcome(False, "本进程没有运行信息源检查，请在运行中的转载中枢看板上操作")
        task = asyncio.ensure_future(self.watcher.check_now(source))
        try:
            result = await asyncio.wait_for(asyncio.shield(task), CHECK_WAIT_SECONDS)
        except TimeoutError:          # a slow site: the poll goes on and is recorded like any other
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)
            message = f"信息源“{source.name}”仍在检查中（网站响应较慢），结果稍后显示在信息源页"
            await self._audit(actor, f"{actor} 立即检查信息源 {source.name}（{source.id}）：{message}")
            return Outcome(True, message)
        if result is None:
            return Outcome(False, f"信息源“{source.name}”正在检查中，请稍后刷新本页查看结果")
        created, health = result
        if health.consecutive_errors:
            outcome = Outcome(False, f"信息源“{source.name}”检查失败：{fetch_problem_text(health.last_error)}"
                                     f"（已连续失败 {health.consecutive_errors} 次，系统会继续自动重试）")
        else:
            outcome = Outcome(True, f"信息源“{source.name}”检查完成：发现 {created} 条新稿件"
                                    + ("，已加入转载任务" if created else ""))
        await self._audit(actor, f"{actor} 立即检查信息源 {source.name}（{source.id}）：{outcome.message}")
        return outcome

    async def ack_alert(self, alert_id: int, actor: str) -> Outcome:
        """Mark an alert seen (who and when are kept on the alert); audited."""
        alert = await self.store.get_alert(alert_id)
        if alert is None or alert["kind"] != "alert":
            return Outcome(False, f"提醒 #{alert_id} 不存在")
        if not await self.store.ack_alert(alert_id, actor, self.clock.now()):
            return Outcome(False, f"提醒 #{alert_id} 已由 {alert['acked_by']} 确认过")
        await self._audit(actor, f"{actor} 确认提醒 #{alert_id}")
        return Outcome(True, f"提醒 #{alert_id} 已确认")

    async def silence(self, alert_id: int, until: datetime, reason: str, actor: str) -> Outcome:
        """Stop pushing alerts of this alert's category about its account (else its unit, else all of that
        category) until ``until``; they are still recorded and listed. A reason is required; audited."""
        reason = reason.strip()
        alert = await self.store.get_alert(alert_id)
        if alert is None or alert["kind"] != "alert":
            return Outcome(False, f"提醒 #{alert_id} 不存在")
        if not reason:
            return Outcome(False, "静音必须填写理由（将记入操作记录）")
        now = self.clock.now()
        if until <= now:
            return Outcome(False, "静音截止时间必须晚于现在")
        if until > now + timedelta(days=SILENCE_MAX_DAYS):
            return Outcome(False, f"静音最长 {SILENCE_MAX_DAYS} 天，请缩短时间")
        category, target = alert["category"], alert["account_id"] or alert["unit_id"] or ""
        await self.store.add_silence(category, target, until, actor, reason, now)
        label = CATEGORY_LABELS.get(category, "提醒")
        what = f"“{label}”类提醒（{self.target_text(target)}）"
        until_text = local_text(until, self.settings.deadlines.tz)
        await self._audit(actor, f"{actor} 静音{what}至 {until_text}：{reason}")
        return Outcome(True, f"已静音{what}至 {until_text}；期间提醒仍会记录，只是不再推送")

    async def end_silence(self, silence_id: int, actor: str) -> Outcome:
        if not await self.store.end_silence(silence_id, self.clock.now()):
            return Outcome(False, f"静音 #{silence_id} 不存在或已结束")
        await self._audit(actor, f"{actor} 结束静音 #{silence_id}")
        return Outcome(True, f"静音 #{silence_id} 已结束，之后的提醒会照常推送")

    def target_text(self, target: str) -> str:
        """A silence's target as a person reads it: the account with its unit, the unit, or everything."""
        for unit, account in self.settings.accounts():
            if account.id == target:
                return f"{unit.name} · 账号 {account.id}"
        unit_names = {u.id: u.name for u in self.settings.units}
        if target in unit_names:
            return unit_names[target]
        return "全部对象" if not target else target

    async def pause(self, account_id: str, reason: str, actor: str) -> Outcome:
        if account_id not in self.account_ids():
            return Outcome(False, f"没有启用的渠道账号 {account_id}")
        now = self.clock.now()
        reason = reason.strip() or "运维操作"
        await self.store.set_account_state(account_id, "paused", f"{reason}（{actor}）", now)
        held = await self.store.hold_account(account_id, now, f"人工暂停：{reason}（{actor}）")
        if self.dispatcher is not None:
            self.dispatcher.pause(account_id)
        await self._audit(actor, f"{actor} 暂停渠道账号 {account_id}：{reason}")
        return Outcome(True, f"渠道账号 {account_id} 已暂停，{held} 条待发稿件暂存")

    async def resume(self, account_id: str, actor: str) -> Outcome:
        if account_id not in self.account_ids():
            return Outcome(False, f"没有启用的渠道账号 {account_id}")
        now = self.clock.now()
        await self.store.set_account_state(account_id, "active", None, now)
        released = await self.store.release_account(account_id, now)
        if self.dispatcher is not None:
            self.dispatcher.resume(account_id)          # claims for it again and looks for due work at once
        await self._audit(actor, f"{actor} 恢复渠道账号 {account_id}")
        return Outcome(True, f"渠道账号 {account_id} 已恢复，{released} 条稿件重新排队")

    async def confirm_calendar(self, year: int, actor: str) -> Outcome:
        """Adopt the draft made of the State Council's holiday notice for ``year`` (audited there)."""
        if self.calendar_notices is None:
            return Outcome(False, "本进程不能确认节假日安排，请在看板或用 python main.py calendar confirm 年份")
        ok, message = await self.calendar_notices.confirm(year, actor)
        return Outcome(ok, message)
    async def correct_time(self, item_id: int, time_text: str, reason: str, actor: str,
                           calendar: WorkCalendar) -> Outcome:
        """Correct an item's upstream publication time (audited; its deadlines are recomputed)."""
        done = await correct_upstream_time(self.store, self.settings, calendar, item_id, time_text, reason, actor,
                                           self.clock.now())
        self._wake()
        return Outcome(done.ok, done.message)

    def _wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()
