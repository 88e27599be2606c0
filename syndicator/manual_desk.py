"""The hub's side of manual units: reminders from the delay monitor, and the 信息员's "已转载" reports.

Reminders: the delay monitor records at_risk / overdue once per delivery; for a ``manual`` account this
reminds the 信息员 (at risk) and also escalates to the unit's responsible person (overdue) through the
channel, once each (the channel remembers it in the key-value table), and puts what was sent in the
alert/audit log.

Reports: from the signed form on the hub (syndicator.manual_web) or the WeChat console ("已转载 N 链接"), the
hub opens the given URL and checks the title; only when the page shows the item is the delivery confirmed
(through the dispatcher's normal confirm path), otherwise the 信息员 is told why not.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from channels.manual import ManualChannel
from core.models import DelayKind, DelayRecord, Delivery, Item
from syndicator.store import Store

log = logging.getLogger(__name__)
Hint = Callable[[str, str], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class ReportAnswer:
    ok: bool
    message: str            # Chinese, shown to the 信息员


class ManualDesk:
    def __init__(self, store: Store, channels: Mapping[str, ManualChannel], hint: Hint,
                 now: Callable[[], datetime]) -> None:
        self.store, self.channels, self.hint, self.now = store, dict(channels), hint, now

    def informants(self) -> dict[str, set[str]]:
        """OpenID → the manual accounts whose 信息员 it is (who may use "已转载" in the console)."""
        out: dict[str, set[str]] = {}
        for account_id, ch in self.channels.items():
            if ch.options.informant.openid:
                out.setdefault(ch.options.informant.openid, set()).add(account_id)
        return out

    async def on_delay(self, kind: DelayKind, record: DelayRecord) -> None:
        """Delay-monitor listener: remind / escalate for manual accounts."""
        channel = self.channels.get(record.account_id)
        if channel is None or kind not in (DelayKind.AT_RISK, DelayKind.OVERDUE):
            return
        d = await self.store.get_delivery(record.delivery_id)
        if d is None or d.state.is_final:
            return
        try:
            text = await channel.remind(d, kind.value, record.item_title)
        except Exception as exc:                 # a reminder must never stop the delay scan
            log.exception("manual reminder for delivery %s failed", record.delivery_id)
            text = f"投递 #{record.delivery_id}《{record.item_title}》提醒信息员失败：{type(exc).__name__}"
        if text:
            await self.store.add_alert(record.account_id, text, self.now(), kind="action",
                                       category="overdue" if kind is DelayKind.OVERDUE else "at_risk",
                                       unit_id=record.unit_id, account_id=record.account_id)

    async def delivery(self, delivery_id: int) -> tuple[Delivery, Item, ManualChannel] | None:
        d = await self.store.get_delivery(delivery_id)
        if d is None or d.account_id not in self.channels:
            return None
        item = await self.store.get_item(d.item_id)
        if item is None:
            return None
        return d, item, self.channels[d.account_id]

    async def report(self, delivery_id: int, url: str, who: str, *, accounts: set[str] | None = None
                     ) -> ReportAnswer:
        """The 信息员 reports the reprint at ``url``; ``accounts`` limits which deliveries they may report."""
        found = await self.delivery(delivery_id)
        if found is None or (accounts is not None and found[0].account_id not in accounts):
            return ReportAnswer(False, f"未找到需要本单位转载的投递 #{delivery_id}，请核对编号")
        d, item, channel = found
        if d.state.value == "delivered":
            return ReportAnswer(True, f"投递 #{d.id}《{item.title}》已确认转载：{d.external_url or ''}".rstrip("："))
        if d.state.value not in ("confirming", "retrying"):
            return ReportAnswer(False, f"投递 #{d.id} 当前状态为 {d.state.value}，尚未通知转载，请稍后再试")
        problem = await channel.check_report(d.idempotency_key, url)
        if problem is not None:
            await self.store.add_alert(d.account_id, f"{who}报告投递 #{d.id} 已转载，核对未通过：{problem}", self.now(),
                                       kind="action", unit_id=d.unit_id, account_id=d.account_id)
            return ReportAnswer(False, problem)
        await self.store.add_alert(d.account_id, f"{who}报告投递 #{d.id} 已转载（{url.strip()}），页面核对一致",
                                   self.now(), kind="action", unit_id=d.unit_id, account_id=d.account_id)
        asked = await self.hint(d.account_id, d.idempotency_key)
        tail = "已确认，稍后在看板显示为已发布。" if asked else "已记录，系统将在下一次核对时确认。"
        return ReportAnswer(True, f"已核对：转载页面显示《{item.title}》。{tail}")
