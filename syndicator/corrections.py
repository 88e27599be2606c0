"""An operator corrects an item's upstream publication time (the source printed a wrong date).

The correction names who and why and keeps the old value (``time_corrections``, plus the audit log);
the item's anchor case is decided again from the corrected time (tracked or baseline), and every
first-version delivery's deadline is recomputed through ``store.move_deadline``, which archives the
delay records measured against the old deadline so the delay monitor derives them afresh. Re-sends
after an upstream update keep their own anchor (the update's detection).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from syndicator.calendar import WorkCalendar
from syndicator.config import Settings
from syndicator.deadlines import choose_anchor, compute_deadline, parse_time_text
from syndicator.delays import local_text
from syndicator.store import Store


@dataclass(frozen=True, slots=True)
class Correction:
    ok: bool
    message: str
    moved: int = 0          # deliveries whose deadline moved
    superseded: int = 0     # delay records archived


async def correct_upstream_time(store: Store, settings: Settings, calendar: WorkCalendar, item_id: int,
                                time_text: str, reason: str, actor: str, now: datetime) -> Correction:
    reason = reason.strip()
    if not reason:
        return Correction(False, "更正发布时间必须填写理由（将记入审计记录）")
    try:
        new = parse_time_text(time_text)
    except ValueError as exc:
        return Correction(False, str(exc))
    item = await store.get_item(item_id)
    if item is None:
        return Correction(False, f"稿件 #{item_id} 不存在")
    source = next((s for s in settings.sources if s.id == item.source_id), None)
    s = settings.deadlines_for(item.source_id)
    if new > now:
        return Correction(False, f"更正后的发布时间 {local_text(new, s.tz)} 晚于当前时间，请核对")
    start = (source.tracking_starts_at if source and source.tracking_starts_at
             else await store.tracking_start(item.source_id))
    anchor, kind = choose_anchor(new, item.detected_at, s, start)
    old = await store.correct_item_time(item_id, new, anchor, kind, reason, actor, now)
    deadline = compute_deadline(anchor, s, calendar)
    was = local_text(old, s.tz) if old else "无"
    why = f"人工更正上游发布时间：{was} → {local_text(new, s.tz)}（{actor}：{reason}）"
    moved = superseded = 0
    for d in await store.proof_rows(item_id=item_id):
        if d["anchor_kind"] == "updated":
            continue
        result = await store.move_deadline(d["id"], d["deadline_at"], deadline.deadline, deadline.provisional, now, why)
        if result is not None and d["deadline_at"] != deadline.deadline:
            moved += 1
            superseded += len(result)
    await store.add_alert(f"operator:{actor}", f"{actor} 更正稿件 #{item_id}《{item.title}》上游发布时间："
                          f"{was} → {local_text(new, s.tz)}，理由：{reason}", now)
    return Correction(True, f"稿件 #{item_id} 上游发布时间已更正为 {local_text(new, s.tz)}，截止时间 "
                            f"{local_text(deadline.deadline, s.tz)}；{moved} 条投递的截止时间已重算，"
                            f"{superseded} 条延误记录作废并将按新截止时间重新判定", moved, superseded)
