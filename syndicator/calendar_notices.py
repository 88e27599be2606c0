"""The holiday notice, from upstream item to confirmed override: recognise, check, propose, confirm.

The State Council's yearly "国务院办公厅关于YYYY年部分节假日安排的通知" reaches the hub through the gov.cn
sources it already watches. When an item's title is that notice, its body is parsed and checked
(syndicator.holiday_notice) and a draft `config/calendar/<year>.toml` is kept in the store, announced
to the admins and shown in the dashboard. Nothing changes deadlines until a person confirms (console
"确认日历 2027", the dashboard button, or `main.py calendar confirm 2027`): a machine-read arrangement
moves every deadline of a year, so one pair of eyes checks it against the notice first. A notice that
fails a check is still recorded and shown, with what failed, and cannot be confirmed.

Drafts live in the store (kv ``calendar:notices``), so every hub sharing the database sees them; a
confirmation writes the file atomically (temp file, fsync, rename) under a lease and reloads the
calendar, which recomputes deadlines and delay records as any override change does. Audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tomllib
from collections.abc import Awaitable, Callable
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from core.clock import Clock
from core.content import to_text
from core.models import Alert
from syndicator.calendar import WorkCalendar, YearOverride
from syndicator.holiday_notice import WEEKDAYS, ParsedNotice, notice_year, parse_notice
from syndicator.store import Store

log = logging.getLogger(__name__)
NOTICES_KEY = "calendar:notices"
CONFIRM_LEASE = "calendar-confirm"
Reload = Callable[[], Awaitable[int]]      # re-read overrides and recompute; returns deliveries changed


def notice_text(body: str) -> str:
    """Plain lines of a notice body given as HTML (an article page) or as text."""
    return to_text(body) if "<" in body else body


def render_draft(notice: ParsedNotice, url: str, published: date | None) -> str:
    """The override file for a parsed notice, in the format of config/calendar/README.md."""
    assert notice.year is not None
    q = lambda s: json.dumps(s, ensure_ascii=False)  # noqa: E731  (a JSON string is a TOML basic string)
    lines = [f"# 由转载中枢根据国务院办公厅通知生成的草案，经管理员确认后写入。原文：{url}",
             f"year = {notice.year}", f"notice = {q(notice.title)}", f"url = {q(url)}"]
    if published is not None:
        lines.append(f'published = "{published.isoformat()}"')
    lines += ["", "holidays = ["]
    for h in notice.holidays:
        lines.append(f'  {{ from = "{h.start}", to = "{h.end}", name = {q(h.name)} }},')
        lines += [f'  {{ from = "{d}", to = "{d}", name = {q(h.name + "补休")} }},' for d in h.extra_days_off]
    lines += ["]", "", "# 调休上班的周末", "workdays = ["]
    for h in notice.holidays:
        lines += [f'  "{d}",  # 周{WEEKDAYS[d.weekday()]}，{h.name}调休' for d in h.workdays if d.year == notice.year]
    lines.append("]")
    return "\n".join(lines) + "\n"


def _digest(notice: ParsedNotice) -> str:
    """What a notice says (days off, make-up days, problems), not how a copy of it is formatted."""
    said = [[h.names, str(h.start), str(h.end), sorted(map(str, h.workdays)), sorted(map(str, h.extra_days_off))]
            for h in notice.holidays]
    text = json.dumps([notice.title, said, notice.problems], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def write_atomic(path: Path, text: str) -> None:
    """Write, fsync and rename, so the hub's calendar watch never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")      # not *.toml: the watch ignores it
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class CalendarNotices:
    def __init__(self, store: Store, calendar: WorkCalendar, clock: Clock, alert: Alert, reload: Reload,
                 tz: tzinfo) -> None:
        self.store, self.calendar, self.clock, self.alert, self.reload, self.tz = (
            store, calendar, clock, alert, reload, tz)
        self._seen: set[str] = set()            # URLs already read in this process (skip refetching pages)

    @staticmethod
    def wants(title: str) -> bool:
        return notice_year(title) is not None

    def seen(self, url: str) -> bool:
        return url in self._seen

    async def records(self) -> dict[int, dict[str, Any]]:
        raw = await self.store.kv.get(NOTICES_KEY)
        return {int(y): r for y, r in json.loads(raw).items()} if raw else {}

    async def _save(self, records: dict[int, dict[str, Any]]) -> None:
        await self.store.kv.put(NOTICES_KEY, json.dumps({str(y): r for y, r in sorted(records.items())},
                                                        ensure_ascii=False))

    async def refresh(self) -> None:
        """Tell the calendar which uncovered years have a notice waiting (its warnings say so)."""
        pending: dict[int, str] = {}
        for year, r in (await self.records()).items():
            if r["status"] == "pending":
                pending[year] = (f"已发现《{r['title']}》（{r['published'] or '发布日期未知'}发布），"
                                 f"草案待管理员确认（看板“节假日安排通知”或控制台发送“确认日历 {year}”）；"
                                 "确认前截止时间仍按周末和法定节假日临时计算")
            elif r["status"] == "invalid":
                pending[year] = (f"已发现《{r['title']}》，但自动校验未通过（{r['problems'][0]}），需人工核对原文 "
                                 f"{r['url']} 后由系统管理员在节假日日历目录中补充{year}年安排；截止时间仍为临时计算")
        self.calendar.pending_notices = pending

    async def observe(self, title: str, body: str, url: str, published_at: datetime | None,
                      source_id: str) -> dict[str, Any] | None:
        """Read an upstream item that may be the notice; returns its record when it is one."""
        year = notice_year(title)
        if year is None:
            return None
        self._seen.add(url)
        notice = parse_notice(title, notice_text(body))
        digest = _digest(notice)        # the same arrangement via another feed or URL is not news
        records = await self.records()
        old = records.get(year)
        if old is not None and (old["hash"] == digest or (old["url"] == url and old["status"] == "confirmed")):
            return old
        if old is None and self.calendar.coverage(year) == "package":
            log.info("holiday notice for %d seen at %s; chinese-calendar already covers that year", year, url)
            return None
        published = published_at.astimezone(self.tz).date() if published_at else notice.signed_on
        record = {"year": year, "title": notice.title, "url": url, "source": source_id,
                  "published": published.isoformat() if published else None, "found_at": self.clock.now().isoformat(),
                  "hash": digest, "valid": notice.valid, "problems": notice.problems, "notes": notice.notes,
                  "draft": render_draft(notice, url, published) if notice.valid else "",
                  "status": "pending" if notice.valid else "invalid", "confirmed_by": None, "confirmed_at": None}
        records[year] = record
        await self._save(records)
        await self.refresh()
        log.warning("holiday notice for %d found at %s (%s): %s", year, url, source_id,
                    "draft waits for confirmation" if notice.valid else "checks failed: " + "; ".join(notice.problems))
        changed = "（此前记录的通知内容已变化）" if old is not None else ""
        if notice.valid:
            summary = "；".join(f"{h.name} {h.start:%m-%d}至{h.end:%m-%d}" for h in notice.holidays)
            await self.alert("calendar", f"【节假日安排】发现《{notice.title}》{changed}（{record['published']}发布），"
                                         f"已生成{year}年安排草案：{summary}。请在看板核对，或回复“确认日历 {year}”"
                                         f"（confirm calendar {year}）确认；确认前{year}年截止时间仍为临时计算。")
        else:
            await self.alert("calendar", f"【节假日安排】发现《{notice.title}》{changed}，但自动校验未通过，"
                                         f"需人工核对原文（{url}）：{'；'.join(notice.problems[:5])}")
        return record

    async def confirm(self, year: int, actor: str) -> tuple[bool, str]:
        """Write the draft as config/calendar/<year>.toml and reload; (ok, Chinese message)."""
        if not await self.store.kv.lease(CONFIRM_LEASE, actor, 120):
            return False, "另一位管理员正在确认节假日安排，请稍后再试"
        try:
            return await self._confirm(year, actor)
        finally:
            await self.store.kv.release(CONFIRM_LEASE, actor)

    async def _confirm(self, year: int, actor: str) -> tuple[bool, str]:
        records = await self.records()
        r = records.get(year)
        path = self.calendar.override_path(year)
        if r is None:
            return False, f"尚未发现国务院办公厅关于{year}年部分节假日安排的通知，没有可确认的草案"
        if r["status"] == "confirmed":
            return False, f"{year}年节假日安排已由 {r['confirmed_by']} 于 {r['confirmed_at'][:16]} 确认"
        if not r["valid"]:
            return False, (f"《{r['title']}》自动校验未通过，不能确认：{'；'.join(r['problems'][:3])}。"
                           f"请人工核对原文后由系统管理员在节假日日历目录中补充{year}年安排")
        if path.exists():
            return False, f"节假日日历目录中已有人工维护的{year}年安排，未覆盖；请对照通知人工核对该安排"
        YearOverride.model_validate(tomllib.loads(r["draft"]))      # the draft is what the loader accepts
        await asyncio.to_thread(write_atomic, path, r["draft"])
        changed = await self.reload()
        if self.calendar.coverage(year) != "override":
            return False, f"已写入{year}年安排，但重新加载失败（见告警），{year}年截止时间仍为临时计算"
        r.update(status="confirmed", confirmed_by=actor, confirmed_at=self.clock.now().isoformat(), path=str(path))
        await self._save(records)
        await self.refresh()
        message = f"{year}年节假日安排已确认并载入（依据《{r['title']}》），{changed} 条投递的截止时间已按新安排重算"
        await self.store.add_alert(f"operator:{actor}", f"{actor} 确认{year}年节假日安排（依据《{r['title']}》"
                                                        f"{r['url']}），已写入，重算 {changed} 条投递的截止时间",
                                   self.clock.now())
        log.info("calendar %d confirmed by %s: %s written, %d deliveries recomputed", year, actor, path, changed)
        return True, message
