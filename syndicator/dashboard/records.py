"""Record pages for operators and inspectors: the delay log (with CSV export), source health and
the monthly timeliness report (with CSV export). CSV files start with a UTF-8 BOM so Excel shows
the Chinese correctly, and text cells that a spreadsheet would run as a formula are neutralised."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from syndicator.anchors import anchor_label
from syndicator.dashboard import render as r
from syndicator.dashboard.render import Html, tag
from syndicator.dashboard.views import SESSION, config_order, names, show, unit_cell
from syndicator.evidence import report_details
from syndicator.report import (
    REPORT_COLUMNS,
    REPORT_DEFINITIONS,
    delays_listing,
    format_delays,
    format_report,
    monthly_report,
    state_text,
    tz_label,
    verify_summary,
)
from syndicator.source_problems import fetch_problem_text
from syndicator.web_keys import CALENDAR, CLOCK, SETTINGS, STORE

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SHOWN = 1000                 # report listing rows shown on the page (exports are complete)
DELAY_PAGE = 100             # delay records per page


def neutralise(text: str) -> str:
    """A leading ' keeps Excel/WPS from evaluating an upstream title such as =HYPERLINK(…) (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_response(text: str, filename: str) -> web.Response:
    return web.Response(body=(BOM + text).encode("utf-8"), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store"})


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _delay_query(request: web.Request) -> tuple[dict[str, str], datetime | None, datetime | None, list[str]]:
    """Filters from the query: since/until are Beijing dates (until inclusive); defaults to the last 30 days."""
    app, q = request.app, request.query
    tz = app[SETTINGS].deadlines.tz
    problems = [f"日期“{q[k][:30]}”无效，应为 YYYY-MM-DD" for k in ("since", "until") if q.get(k) and not _day(q[k])]
    kind = q.get("kind", "")
    if kind and kind not in r.DELAY_KIND_LABELS:
        problems.append(f"延误类型“{kind[:30]}”无效，已显示全部类型")
        kind = ""
    today = app[CLOCK].now().astimezone(tz).date()
    since_d = _day(q.get("since")) or (None if "since" in q else today - timedelta(days=30))
    until_d = _day(q.get("until"))
    f = {"since": since_d.isoformat() if since_d else "", "until": until_d.isoformat() if until_d else "",
         "unit": q.get("unit", ""), "channel": q.get("channel", ""), "kind": kind}
    since = datetime.combine(since_d, datetime.min.time(), tz) if since_d else None
    until = datetime.combine(until_d + timedelta(days=1), datetime.min.time(), tz) if until_d else None
    return f, since, until, problems


async def _delay_rows(request: web.Request) -> tuple[dict[str, str], list[dict[str, Any]], list[str]]:
    f, since, until, problems = _delay_query(request)
    app = request.app
    rows = await delays_listing(app[STORE], since, until, f["unit"] or None, f["channel"] or None,
                                calendar=app[CALENDAR], settings_for=app[SETTINGS].deadlines_for, now=app[CLOCK].now())
    if f["kind"]:
        rows = [x for x in rows if x["kind"] == f["kind"]]
    return f, rows, problems


def url_link(url: str | None) -> Html:
    """A public URL as a link, only when it is http(s) (a platform's answer is not trusted to be)."""
    if url and urlsplit(url).scheme in ("http", "https"):
        return tag("a", url, href=url, rel="noreferrer", class_="url")
    return r.esc(url or "—")


def _detail_link(delivery_id: int, text: str | None = None) -> Html:
    return r.link(f"/delivery/{delivery_id}", text or f"投递 #{delivery_id}")


async def delays(request: web.Request) -> web.Response:
    app = request.app
    f, rows, problems = await _delay_rows(request)
    tz = app[SETTINGS].deadlines.tz
    unit_names = names(request)
    kinds = sorted({a.kind for _u, a in app[SETTINGS].accounts()})
    channels = [("", "全部渠道"), *((k, r.channel_name(k)) for k in kinds),
                *((a.id, f"账号 {a.id}") for _u, a in app[SETTINGS].accounts())]
    controls = [r.text_input("since", f["since"], "记录时间从", "date"),
                r.text_input("until", f["until"], "至（含）", "date"),
                r.select("unit", [("", "全部单位"), *unit_names.items()], f["unit"], "单位"),
                r.select("channel", channels, f["channel"], "渠道或账号"),
                r.select("kind", [("", "全部类型"), *r.DELAY_KIND_LABELS.items()], f["kind"], "延误类型")]
    csv_link = r.link("/delays.csv", "导出 CSV（Excel 可直接打开）", **f)
    body: list[Any] = [r.filters("/delays", controls, Html(f"&nbsp;{csv_link}"))]
    page, page_note = r.page_number(request.query)
    problems += [page_note] if page_note else []
    pages = r.page_count(len(rows), DELAY_PAGE)
    page = min(page, pages)
    body += [tag("p", p, class_="flash err") for p in problems]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    summary = "，".join(f"{r.DELAY_KIND_LABELS.get(k, k)} {n}" for k, n in sorted(counts.items())) or "无"
    body.append(tag("p", f"共 {len(rows)} 条记录：{summary}。", class_="muted"))
    table_rows = [[
        Html(f'<td class="nowrap">{r.when(x["recorded_at"])}</td>'),
        unit_cell(unit_names.get(x["unit_id"], x["unit_id"])),
        Html(f"<td class=nowrap>{r.esc(r.channel_name(x['channel']))}<div class=muted>{r.esc(x['account_id'])}</div>"
             "</td>"),
        tag("td", x["item_title"], class_="title"),
        Html(f"<td>{r.state_tag(x['kind'], r.DELAY_KIND_LABELS)}<div class=muted>{_detail_link(x['delivery_id'])}</div>"
             f"<div class=muted>{r.esc(state_text(x, tz))}</div></td>"),
        Html(f'<td class="nowrap">{r.when(x["deadline_at"])}</td>'),
        tag("td", r.hours(x["late_clock_hours"]), class_="num"),
        tag("td", r.hours(x["late_working_hours"]), class_="num"),
        tag("td", x["reason"], class_="reason"),
    ] for x in rows[(page - 1) * DELAY_PAGE:page * DELAY_PAGE]]
    head = ("记录时间", "单位", "渠道 / 账号", "稿件", "类型", "截止时间", "超时（小时）", "超时（工作小时）", "原因")
    body += [r.table(head, table_rows, "所选范围内没有延误记录", numeric=(6, 7)),
             r.pager("/delays", request.query, page, pages)]
    return show(request, "延误记录", r.join(body))


async def delays_csv(request: web.Request) -> web.Response:
    f, rows, _problems = await _delay_rows(request)
    safe = [{**x, "item_title": neutralise(x["item_title"]), "reason": neutralise(x["reason"]),
             "account_id": neutralise(x["account_id"])} for x in rows]
    text = format_delays(safe, "csv", names={k: neutralise(v) for k, v in names(request).items()},
                         tz=request.app[SETTINGS].deadlines.tz)
    span = f"{f['since'] or 'start'}_{f['until'] or 'now'}".replace("-", "")
    return csv_response(text, f"delays_{span}.csv")


# ---------------------------------------------------------------- sources


def _public_url(url: str) -> str:
    """scheme://host/path only: a query string may carry an API key."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


LIVE_CHECK = {"needed": "待对照真实网站核对"}        # presets say "needed" until checked (config/sources)


async def sources(request: web.Request) -> web.Response:
    app, s_ = request.app, request[SESSION]
    health = {h.source_id: h for h in await app[STORE].all_source_health()}
    configured = {s.id: s for s in app[SETTINGS].sources}
    rows = []
    for sid in [*configured, *sorted(set(health) - set(configured))]:
        s, h = configured.get(sid), health.get(sid)
        if h is None:
            status = tag("span", "尚未检查", class_="tag s-pending")
        elif h.consecutive_errors:
            status = tag("span", f"失败中（连续 {h.consecutive_errors} 次）", class_="tag s-failed")
        elif h.empty_since is not None:
            status = tag("span", "无内容", class_="tag s-failed", title=h.empty_reason or "")
        else:
            status = tag("span", "正常", class_="tag s-delivered")
        if s is not None and not s.enabled:
            status = tag("span", "已停用", class_="tag s-skipped")
        name = Html(f"<td>{r.esc(s.name if s else sid)}<div class=muted>{r.esc(sid)}"
                    f"{' · ' + r.esc(s.authority) if s and s.authority else ''}</div>"
                    f"<div class=muted>{r.esc(_public_url(s.url)) if s else '（已不在配置中）'}</div></td>")
        kind = ""
        if s is not None:
            how = "浏览器抓取" if s.fetch == "browser" else "直接抓取"
            kind = f"{r.SOURCE_KINDS.get(s.kind, s.kind)}（{how}），{r.every(s.interval)}"
        rows.append([name, kind, Html(f"<td>{status}</td>"),
                     Html(f'<td class="nowrap">{r.when(h and h.last_success_at)}</td>'),
                     r.num(h.consecutive_errors if h else 0, "late"),
                     Html(f'<td class="nowrap">{r.when(h and h.failing_since)}</td>'),
                     tag("td", (h and (h.empty_reason if h.empty_since and not h.consecutive_errors
                                       else fetch_problem_text(h.last_error) if h.last_error else "")) or "",
                         class_="err"),
                     Html(f'<td class="nowrap">{r.when(h and h.next_check_at)}</td>'), r.num(h.items_seen if h else 0),
                     LIVE_CHECK.get((s and s.live_check) or "", (s and s.live_check) or ""),
                     tag("td", r.action_form("/actions/check-source", s_.csrf, "/sources", "立即检查", source_id=sid),
                         class_="nowrap") if s is not None and s.enabled else ""])
    head = ("信息源", "类型 / 抓取", "状态", "最近成功", "连续错误", "失败起始", "最近错误", "下次检查", "已见条目",
            "实测检查", "操作")
    note = tag("p", "失败的信息源会按指数退避持续重试，不会自动停用；长时间失败会发出提醒。"
                    "读取成功却没有任何条目的信息源标为“无内容”并发出提醒。"
                    "点“立即检查”会马上抓取一次并显示结果（可能需要几十秒）。", class_="muted")
    return show(request, "信息源状态", r.join([note, r.table(head, rows, "未配置信息源", numeric=(4, 8))]))


# ---------------------------------------------------------------- monthly report


def month_param(request: web.Request) -> str:
    app = request.app
    return request.query.get("month") or f"{app[CLOCK].now().astimezone(app[SETTINGS].deadlines.tz):%Y-%m}"


def _shift(month: str, delta: int) -> str:
    y, m = int(month[:4]), int(month[5:7]) + delta
    y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    return f"{y:04d}-{m:02d}"


async def report(request: web.Request) -> web.Response:
    app, month = request.app, month_param(request)
    controls = [r.text_input("month", month, "月份", "month", "YYYY-MM")]
    try:
        rows = await monthly_report(app[STORE], month, app[CALENDAR], app[SETTINGS].deadlines,
                                    app[SETTINGS].deadlines_for)
    except ValueError as exc:
        error = tag("p", str(exc), class_="flash err")
        return show(request, "转载时效月报", r.join([r.filters("/report", controls), error]))
    prev = r.link("/report", "← 上月", month=_shift(month, -1))
    nxt = r.link("/report", "下月 →", month=_shift(month, 1))
    nav = Html(f"&nbsp;{prev} {nxt} &nbsp;{r.link('/report.csv', '导出 CSV', month=month)}"
               f" &nbsp;{r.link('/report.html', '打印版', month=month)}")
    unit_names = names(request)
    pct = lambda v: "" if v is None else f"{v:.1%}"  # noqa: E731
    rows.sort(key=lambda x: config_order(request)((x["unit_id"], x["channel"])))
    stats = ("late_median_hours", "late_p95_hours", "late_median_working_hours", "late_p95_working_hours")
    first = [i == 0 or rows[i - 1]["unit_id"] != x["unit_id"] for i, x in enumerate(rows)]
    table_rows = [[unit_cell(unit_names.get(x["unit_id"], x["unit_id"]), first[i]),
                   Html(f'<td class="nowrap">{r.esc(r.channel_name(x["channel"]))}</td>'), r.num(x["required"]),
                   r.num(x["on_time"]), r.num(x["late"], "late"), r.num(x["missing"], "late"), r.num(x["skipped"]),
                   r.num(x["open"]), tag("td", pct(x["on_time_rate"]), class_="num"),
                   *(tag("td", r.hours(x[k]), class_="num") for k in stats),
                   r.num(x["possible_duplicate"], "late"), r.num(x.get("baseline", 0)),
                   r.num(x.get("verified", 0)), r.num(x.get("sent_only", 0)), r.num(x.get("not_visible", 0), "late"),
                   r.num(x.get("unverifiable", 0)), r.num(x.get("gone", 0), "late")] for i, x in enumerate(rows)]
    total = {k: sum(x.get(k, 0) for x in rows)
             for k in ("required", "on_time", "late", "missing", "skipped", "open", "possible_duplicate", "baseline")}
    due = total["on_time"] + total["late"] + total["missing"]
    line = (f"应转载 {total['required']} 条：按时 {total['on_time']}，超时发布 {total['late']}，未发布（已超时）"
            f"{total['missing']}，人工跳过 {total['skipped']}，未到期 {total['open']}"
            + (f"，按时率 {total['on_time'] / due:.1%}" if due else "")
            + f"；可能重复 {total['possible_duplicate']} 条"
            + (f"；另有基线（未纳入考核）{total['baseline']} 条" if total["baseline"] else "")
            + verify_summary(rows) + "。")
    tz = app[SETTINGS].deadlines.tz
    notes = (f"统计时间 {r.local_text(app[CLOCK].now(), tz)}（{tz_label(tz)}）；"
             f"统计截止时间在本月的转载任务。{REPORT_DEFINITIONS}")
    body = [r.filters("/report", controls, nav), tag("p", line), tag("p", notes, class_="muted"),
            r.table(REPORT_COLUMNS, table_rows, "本月没有截止时间在本月的转载任务",
                    numeric=tuple(range(2, len(REPORT_COLUMNS)))),
            await _report_listing(request, month)]
    return show(request, f"{month[:4]}年{int(month[5:7])}月转载时效月报", r.join(body))


async def _report_listing(request: web.Request, month: str) -> Html:
    """Each delivery due this month with its proof, linked to its detail page; per-unit evidence ZIPs."""
    app, unit_names = request.app, names(request)
    details = await report_details(app[STORE], month, app[CALENDAR], app[SETTINGS].deadlines,
                                   app[SETTINGS].deadlines_for,
                                   limit=SHOWN + 1)
    more = (tag("p", f"页面仅显示前 {SHOWN} 条，完整明细请导出 CSV 或打印版。", class_="muted")
            if len(details) > SHOWN else "")
    zips = " ".join(r.link("/evidence.zip", f"{n}证据包（ZIP）", unit=u, month=month) for u, n in unit_names.items())
    rows = [[Html(f'<td class="num">{_detail_link(d["id"], str(d["id"]))}</td>'),
             unit_cell(unit_names.get(d["unit_id"], d["unit_id"])),
             Html(f"<td>{r.esc(r.channel_name(d['channel_kind']))}<div class=muted>{r.esc(d['account_id'])}"
                  "</div></td>"),
             tag("td", d["title"], class_="title"), Html(f'<td class="nowrap">{r.when(d["published_at"])}</td>'),
             Html(f'<td class="nowrap">{r.when(d["deadline_at"])}</td>'), r.state_tag(d["state"]),
             Html(f'<td class="nowrap">{r.when(d["delivered_at"])}</td>'),
             Html(f'<td class="err">{url_link(d["external_url"])}</td>'),
             tag("td", r.hours(d["late_working_hours"]), class_="num"), anchor_label(d["anchor_kind"])]
            for d in details[:SHOWN]]
    head = ("#", "单位", "渠道 / 账号", "稿件", "上游发布", "截止时间", "状态", "发布时间", "公开链接",
            "超时（工作小时）", "时间起算口径")
    return r.join([tag("h2", "逐条明细"), tag("p", Html(zips), class_="muted"), more,
                   r.table(head, rows, "本月没有截止时间在本月的转载任务", numeric=(0, 9))])


async def report_csv(request: web.Request) -> web.Response:
    app, month = request.app, month_param(request)
    try:
        rows = await monthly_report(app[STORE], month, app[CALENDAR], app[SETTINGS].deadlines,
                                    app[SETTINGS].deadlines_for)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    unit_names = {k: neutralise(v) for k, v in names(request).items()}
    details = await report_details(app[STORE], month, app[CALENDAR], app[SETTINGS].deadlines,
                                   app[SETTINGS].deadlines_for)
    safe = [{**d, "title": neutralise(d["title"]), "reason": neutralise(d["reason"] or ""),
             "account_id": neutralise(d["account_id"])} for d in details]
    text = format_report(rows, "csv", month=month, names=unit_names, as_of=app[CLOCK].now(),
                         tz=app[SETTINGS].deadlines.tz, details=safe)
    return csv_response(text, f"report_{month}.csv")
