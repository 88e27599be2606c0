"""Recompute stored deadlines after the working-day calendar changed.

Runs at start-up, on SIGHUP, when the hub sees a changed override file, and for `main.py reload`.
Candidates, in any state (open or finished: a late mark made against a guess must not outlive the
real arrangement, or the monthly report keeps it):
- every delivery with a provisional (weekends-only) deadline;
- every delivery whose span from its own anchor to its deadline touches a day whose answer changed:
  an override added, edited or removed, compared with what was in force before (the override last
  applied, remembered in the store so a restart or another hub knows it; else the package or the
  weekends-only guess). The State Council has changed arrangements at short notice (January 2020):
  the override wins over chinese-calendar.
A delivery whose deadline moves has its delay records superseded (archived, one ``superseded`` line
each in the delay log); the delay monitor then derives them again against the new deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from syndicator.calendar import WorkCalendar
from syndicator.deadlines import DeadlineSettings, compute_deadline
from syndicator.delay_log import DelayLog
from syndicator.delays import local_text
from syndicator.store import Store

log = logging.getLogger(__name__)
APPLIED_KEY = "calendar:applied-overrides"
SettingsFor = Callable[[str | None], DeadlineSettings]
Overrides = Mapping[int, tuple[frozenset[date], frozenset[date]]]   # year -> (holidays, make-up workdays)
_YIELD_EVERY = 200   # recomputing is CPU work on the event loop: let other tasks run between batches


@dataclass(frozen=True, slots=True)
class Recomputed:
    changed: int       # deliveries whose deadline or provisional flag changed
    superseded: int    # delay records made obsolete by a moved deadline


def _dump(overrides: Overrides) -> str:
    return json.dumps({str(y): [sorted(map(str, h)), sorted(map(str, w))] for y, (h, w) in sorted(overrides.items())})


def _load(text: str | None) -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    if not text:
        return {}
    return {int(y): (frozenset(map(date.fromisoformat, h)), frozenset(map(date.fromisoformat, w)))
            for y, (h, w) in json.loads(text).items()}


def changed_days(calendar: WorkCalendar, before: Overrides, after: Overrides) -> set[date]:
    """Days whose working-day answer differs between two sets of overrides (a year without an
    override is answered by the package, or weekends only)."""
    def answer(overrides: Overrides, d: date) -> bool:
        if d.year not in overrides:
            return calendar.base_is_workday(d)
        holidays, workdays = overrides[d.year]
        return d in workdays or (d not in holidays and d.weekday() < 5)

    out: set[date] = set()
    for year in {*before, *after}:
        if before.get(year) == after.get(year):
            continue
        d = date(year, 1, 1)
        while d.year == year:
            if answer(before, d) != answer(after, d):
                out.add(d)
            d += timedelta(days=1)
    return out


def _window(days: set[date], tz: tzinfo) -> tuple[datetime, datetime]:
    """[first changed day, day after the last) with a day's slack either side (sources may use other zones)."""
    return (datetime.combine(min(days) - timedelta(days=1), time(0), tz),
            datetime.combine(max(days) + timedelta(days=2), time(0), tz))


async def recompute_deadlines(store: Store, calendar: WorkCalendar, settings_for: SettingsFor, now: datetime,
                              delay_log: DelayLog | None = None, *,
                              previous: Overrides | None = None) -> Recomputed:
    """Recompute the candidates from each delivery's own anchor with its source's settings.

    ``previous``: the overrides this process computed deadlines with until now (a hub's reload).
    """
    tz = settings_for(None).tz
    current = calendar.override_days()
    applied = _load(await store.kv.get(APPLIED_KEY))
    days = changed_days(calendar, applied, current) | changed_days(calendar, previous or current, current)
    if days:
        log.info("calendar: working-day answers changed on %d days (%s … %s); recomputing deadlines there",
                 len(days), min(days), max(days))
    changed = superseded = 0
    for n, c in enumerate(await store.deadline_candidates(_window(days, tz) if days else None), 1):
        if n % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
        try:
            new = compute_deadline(c.anchor_at, settings_for(c.source_id), calendar)
        except ValueError as exc:
            log.error("delivery %d: deadline not recomputed: %s", c.delivery_id, exc)
            continue
        if new.deadline == c.deadline_at and new.provisional == c.provisional:
            continue
        why = (f"按新的节假日安排重算截止时间：{local_text(c.deadline_at, tz)} → {local_text(new.deadline, tz)}"
               + ("（仍为临时计算）" if new.provisional else ""))
        moved = await store.move_deadline(c.delivery_id, c.deadline_at, new.deadline, new.provisional, now, why)
        if moved is None:   # another hub moved it first
            continue
        changed += 1
        superseded += len(moved)
        log.info("delivery %d: deadline %s -> %s%s%s", c.delivery_id, c.deadline_at.isoformat(),
                 new.deadline.isoformat(), " (still provisional)" if new.provisional else "",
                 f"; {len(moved)} delay records superseded" if moved else "")
        for record in moved:
            if delay_log is not None:
                delay_log.superseded(record)
    if applied != current:
        await store.kv.put(APPLIED_KEY, _dump(current))
    return Recomputed(changed, superseded)
