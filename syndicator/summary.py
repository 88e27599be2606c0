"""The morning summary for the people on duty: what is due today, what is already late, what needs a person.

Sent once a day at ``[notify] daily_summary_at`` (Beijing time) to every ``[[notify.people]]`` entry with
``daily_summary = true``. With several hubs on one database, a lease on the day makes exactly one send it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any

from core.models import OPEN_STATES
from syndicator.labels import local_text, state_label
from syndicator.store import Store


def next_summary_at(now: datetime, at: str, tz: Any) -> datetime:
    """The next ``HH:MM`` (in ``tz``) strictly after ``now``."""
    hh, mm = (int(x) for x in at.split(":"))
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), time(hh, mm), tz)
    return candidate if candidate > local else candidate + timedelta(days=1)


async def summary_text(store: Store, unit_names: dict[str, str], now: datetime, tz: Any) -> tuple[str, str]:
    """(title, text) of the summary at ``now``."""
    local = now.astimezone(tz)
    end_of_today = datetime.combine(local.date() + timedelta(days=1), time(0), tz)
    open_rows = await store.deliveries(states=list(OPEN_STATES), limit=100_000)
    counts = await store.state_counts()
    late = [d for d in open_rows if d.deadline_at < now]
    due = [d for d in open_rows if now <= d.deadline_at < end_of_today]
    per_unit: Counter[tuple[str, str]] = Counter()
    for d in late:
        per_unit[(d.unit_id, "late")] += 1
    for d in due:
        per_unit[(d.unit_id, "due")] += 1
    title = f"转载中枢每日摘要（{local:%m月%d日}）"
    lines = [f"截至 {local_text(now, tz)}（北京时间）：",
             f"今日到期未完成 {len(due)} 条；已超时未发布 {len(late)} 条；"
             f"{state_label('failed')}待处理 {counts.get('failed', 0)} 条；"
             f"{state_label('held')} {counts.get('held', 0)} 条。"]
    units = sorted({u for u, _ in per_unit}, key=lambda u: (-per_unit[(u, "late")], -per_unit[(u, "due")], u))
    for unit in units[:20]:
        lines.append(f"- {unit_names.get(unit, unit)}：已超时 {per_unit[(unit, 'late')]} 条，"
                     f"今日到期 {per_unit[(unit, 'due')]} 条")
    if len(units) > 20:
        lines.append(f"- 另有 {len(units) - 20} 个单位，详见看板")
    if not (late or due or counts.get("failed")):
        lines.append("今日暂无到期或超时的转载任务。")
    return title, "\n".join(lines)
