"""What an operator can do, in one place for the CLI, the dashboard and the WeChat console.

Every action is recorded in the alert log with who did it, so the record shows why a delivery was
retried, skipped or held. Messages returned are Simplified Chinese, ready to show to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from syndicator.calendar import WorkCalendar
from syndicator.clock import Clock
from syndicator.config import Settings
from syndicator.dispatch import Dispatcher
from syndicator.store import Store

if TYPE_CHECKING:
    from syndicator.calendar_notices import CalendarNotices


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str


class Operations:
    def __init__(self, settings: Settings, store: Store, clock: Clock, dispatcher: Dispatcher | None = None,
                 calendar_notices: CalendarNotices | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.dispatcher = dispatcher        # a running hub's dispatcher, told at once (else it notices in 5 s)
        self.calendar_notices = calendar_notices   # a running hub's, so a confirmation reloads it at once

    def account_ids(self) -> set[str]:
        return {a.id for _u, a in self.settings.accounts()}

    async def _audit(self, actor: str, message: str) -> None:
        await self.store.add_alert(f"operator:{actor}", message, self.clock.now(), kind="action")

    async def retry(self, delivery_id: int, actor: str) -> Outcome:
        if not await self.store.retry_now(delivery_id, self.clock.now()):
            return Outcome(False, f"投递 #{delivery_id} 不存在或已完成，无法重试")
        await self._audit(actor, f"{actor} 将投递 #{delivery_id} 重新排队")
        self._wake()
        return Outcome(True, f"投递 #{delivery_id} 已重新排队")

    async def skip(self, delivery_id: int, reason: str, actor: str) -> Outcome:
        reason = reason.strip()
        if not reason:
            return Outcome(False, "跳过必须填写理由（将记入延误记录）")
        if not await self.store.skip(delivery_id, self.clock.now(), f"{reason}（{actor}）"):
            return Outcome(False, f"投递 #{delivery_id} 不存在、已发布或正在发送，无法跳过")
        await self._audit(actor, f"{actor} 跳过投递 #{delivery_id}：{reason}")
        return Outcome(True, f"投递 #{delivery_id} 已跳过：{reason}")

    async def pause(self, account_id: str, reason: str, actor: str) -> Outcome:
        if account_id not in self.account_ids():
            return Outcome(False, f"没有启用的渠道账号 {account_id}")
        now = self.clock.now()
        reason = reason.strip() or "运维操作"
        await self.store.set_account_state(account_id, "paused", f"{reason}（{actor}）", now)
        held = await self.store.hold_account(account_id, now, f"人工暂停：{reason}（{actor}）")
        if self.dispatcher is not None:
            self.dispatcher.blocked[account_id] = "paused"
        await self._audit(actor, f"{actor} 暂停渠道账号 {account_id}：{reason}")
        return Outcome(True, f"渠道账号 {account_id} 已暂停，{held} 条待发稿件暂存")

    async def resume(self, account_id: str, actor: str) -> Outcome:
        if account_id not in self.account_ids():
            return Outcome(False, f"没有启用的渠道账号 {account_id}")
        now = self.clock.now()
        await self.store.set_account_state(account_id, "active", None, now)
        released = await self.store.release_account(account_id, now)
        if self.dispatcher is not None:
            self.dispatcher.blocked.pop(account_id, None)
        await self._audit(actor, f"{actor} 恢复渠道账号 {account_id}")
        self._wake()
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
        from syndicator.corrections import correct_upstream_time

        done = await correct_upstream_time(self.store, self.settings, calendar, item_id, time_text, reason, actor,
                                           self.clock.now())
        self._wake()
        return Outcome(done.ok, done.message)

    def _wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()
