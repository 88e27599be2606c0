"""Alerts that say where and what to do, and who hears them.

Every part of the hub raises an alert as ``(subject, message)``: the subject is the account, source or
topic it concerns. Here each alert gets its category (overdue, at risk, account, delivery, source,
calendar, system), the unit's name and the account it is about, and a line on what to do; it is stored
for the dashboard and console, then pushed — unless silenced — to the WeChat admins and to the people
whose ``[[notify.people]]`` entry asks for that category (and unit), by e-mail and group robots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from channels.base import ChannelError
from channels.notify import Notifier
from syndicator.labels import channel_label

log = logging.getLogger(__name__)

CATEGORY_LABELS = {"overdue": "已超时", "at_risk": "即将超时", "account": "账号异常", "delivery": "发送失败",
                   "source": "信息源异常", "calendar": "节假日安排", "system": "系统运行"}
CATEGORY_HINTS = {
    "overdue": "请尽快在看板“投递”页处理：重试，或填写理由后跳过；如需单位配合请立即联系。",
    "at_risk": "请关注该稿件，确保在截止时间前完成发布。",
    "account": "请按提示处理该账号（如重新授权、解除平台限制），完成后在看板“投递”页点“恢复”。",
    "delivery": "请查看失败原因，修正后在看板“投递”页点“重试”，或填写理由后跳过。",
    "source": "请检查该信息源是否可以访问、地址或页面结构是否变化；恢复后系统会自动提示。",
    "calendar": "请按提示核对并确认节假日安排。",
    "system": "请联系系统管理员查看运行日志。",
}


@dataclass(frozen=True, slots=True)
class AlertFacts:
    category: str
    unit_id: str = ""
    unit_name: str = ""
    account_id: str = ""
    channel: str = ""


class Directory:
    """Who is who: accounts to their unit and channel, source ids (from the settings)."""

    def __init__(self, settings: Any) -> None:
        self.accounts = {a.id: (u.id, u.name, a.kind) for u, a in settings.accounts()}
        self.sources = {s.id for s in settings.sources}
        self.units = {u.id: u.name for u in settings.units}

    def classify(self, subject: str, message: str) -> AlertFacts:
        if subject in self.accounts:
            unit_id, unit_name, kind = self.accounts[subject]
            if message.startswith(("【已超时】", "【已发送但公开页面未见】")):     # late either way (syndicator.verify)
                category = "overdue"
            elif message.startswith("【即将超时】"):
                category = "at_risk"
            elif any(w in message for w in ("授权", "暂停", "暂存", "封禁", "冻结", "白名单")):
                category = "account"
            else:
                category = "delivery"
            return AlertFacts(category, unit_id, unit_name, subject, kind)
        if subject in self.units:
            return AlertFacts("delivery", subject, self.units[subject])
        if subject in self.sources or subject.startswith(("source:", "host:")):
            return AlertFacts("source")
        if subject == "calendar":
            return AlertFacts("calendar")
        return AlertFacts("system")

    def compose(self, facts: AlertFacts, message: str) -> str:
        """The stored and pushed text: where (unit name, channel, account), what happened, what to do."""
        where = ""
        if facts.unit_name and facts.unit_name not in message:
            where = facts.unit_name
        if facts.account_id and facts.account_id not in message:
            where += f"{' · ' if where else ''}{channel_label(facts.channel)}（账号 {facts.account_id}）"
        text = f"【{where}】{message}" if where else message
        hint = CATEGORY_HINTS.get(facts.category, "")
        return f"{text}\n处理建议：{hint}" if hint and "处理建议" not in message else text


@dataclass(frozen=True, slots=True)
class Recipient:
    name: str
    notifiers: Sequence[Notifier]
    categories: frozenset[str]          # empty: every category
    units: frozenset[str]               # empty: every unit
    daily_summary: bool = True

    def wants(self, facts: AlertFacts) -> bool:
        return ((not self.categories or facts.category in self.categories)
                and (not self.units or not facts.unit_id or facts.unit_id in self.units))


Push = Callable[[str], Awaitable[None]]


def silenced(silences: Sequence[dict[str, Any]], facts: AlertFacts) -> dict[str, Any] | None:
    """The silence that covers this alert, if any (category '' or the same; target '' or its account/unit)."""
    for s in silences:
        if s["category"] not in ("", facts.category):
            continue
        if s["target"] in ("", facts.account_id, facts.unit_id):
            return s
    return None


class PeopleNotifier:
    """Sends each alert to the people who asked for it; best effort, never blocks or fails the caller."""

    def __init__(self, recipients: Sequence[Recipient]) -> None:
        self.recipients = list(recipients)
        self._tasks: set[asyncio.Task[None]] = set()

    def targets(self, facts: AlertFacts) -> list[tuple[Recipient, Notifier]]:
        return [(p, n) for p in self.recipients if p.wants(facts) for n in p.notifiers]

    def notify(self, facts: AlertFacts, title: str, text: str) -> None:
        for person, notifier in self.targets(facts):
            task = asyncio.create_task(self._send(person, notifier, title, text))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def send_to_all(self, title: str, text: str, *, only: Callable[[Recipient], bool] = lambda p: True
                          ) -> int:
        """Send one message to every (selected) person now; returns how many sends succeeded."""
        results = await asyncio.gather(*(self._send(p, n, title, text) for p in self.recipients if only(p)
                                         for n in p.notifiers))
        return sum(results)

    async def _send(self, person: Recipient, notifier: Notifier, title: str, text: str) -> bool:
        try:
            await notifier.send(title, text)
            return True
        except ChannelError as exc:
            log.warning("notification to %s via %s failed: %s (%s)", person.name, notifier.describe(), exc.reason,
                        exc.detail)
        except Exception:
            log.exception("notification to %s via %s failed", person.name, notifier.describe())
        return False

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=10)


def alert_title(facts: AlertFacts) -> str:
    label = CATEGORY_LABELS.get(facts.category, "提醒")
    who = f" · {facts.unit_name}" if facts.unit_name else ""
    return f"转载中枢提醒：{label}{who}"
