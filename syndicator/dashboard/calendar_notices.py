"""The dashboard's part of the holiday notice: each notice found upstream with its checks and draft,
and the button that confirms a draft (POST with the CSRF token, through ``Operations`` so it is
audited like the console's "确认日历 2027" and the CLI's ``calendar confirm``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from syndicator.dashboard import render as r
from syndicator.dashboard.render import Html, esc, tag
from syndicator.dashboard.views import SESSION, actor, back_with, operations_for
from syndicator.web_keys import CALENDAR_NOTICES

STATUS_LABELS = {"pending": "待确认", "invalid": "校验未通过，需人工处理", "confirmed": "已确认"}


def _notice_block(record: dict[str, Any], csrf: str) -> Html:
    year, url = record["year"], record["url"]
    href = url if urlsplit(url).scheme in ("http", "https") else None
    title = tag("a", record["title"], href=href, rel="noreferrer") if href else esc(record["title"])
    status = STATUS_LABELS.get(record["status"], record["status"])
    head = (f'<p><b>{year}年</b>：{title}（{esc(record["published"] or "发布日期未知")}发布，来源 '
            f'{esc(record["source"])}）— <span class="{"late" if record["status"] == "invalid" else "soon"}">'
            f"{esc(status)}</span></p>")
    parts = [Html(head)]
    if record["problems"]:
        parts.append(Html("<ul>" + "".join(f'<li class="late">{esc(p)}</li>' for p in record["problems"]) + "</ul>"))
    if record["notes"]:
        parts.append(Html("<ul>" + "".join(f'<li class="muted">{esc(n)}</li>' for n in record["notes"]) + "</ul>"))
    if record["draft"]:
        parts.append(tag("pre", record["draft"], class_="draft"))
    if record["status"] == "pending":
        parts.append(r.action_form("/actions/calendar-confirm", csrf, "/", f"确认采用{year}年安排", year=year))
    elif record["status"] == "confirmed":
        parts.append(tag("p", f"由 {record['confirmed_by']} 于 {record['confirmed_at'][:16]} 确认，已写入节假日日历",
                         class_="muted"))
    return Html(f'<div class="notice">{r.join(parts)}</div>')


async def notices_section(request: web.Request) -> Html:
    """"节假日安排通知" on the overview; empty when no notice was ever found."""
    app = request.app
    records = await app[CALENDAR_NOTICES].records()
    if not records:
        return Html("")
    csrf = request[SESSION].csrf
    blocks = [_notice_block(rec, csrf) for _year, rec in sorted(records.items(), reverse=True)]
    return r.join([tag("h2", "节假日安排通知"), *blocks])


async def confirm(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    year = str(form.get("year", ""))
    if not (year.isdigit() and len(year) == 4):
        ok, message = False, "年份无效"
    else:
        outcome = await operations_for(request).confirm_calendar(int(year), actor(request))
        ok, message = outcome.ok, outcome.message
    return back_with(request, form, "/", ok, message)
