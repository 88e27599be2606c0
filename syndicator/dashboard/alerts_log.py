"""The alert list (things a person must act on, each with 确认 and 静音) and the audit log (what people
did), kept apart: operators' actions never push real alerts out of view. Both are paged and filtered;
a bad filter value falls back to its default with a note, never an error page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from syndicator.alerting import CATEGORY_LABELS, AlertFacts, silenced
from syndicator.dashboard import render as r
from syndicator.dashboard.access import may
from syndicator.dashboard.render import Html, esc, tag
from syndicator.dashboard.views import SESSION, actor, back_with, names, operations_for, show
from syndicator.web_keys import CLOCK, SETTINGS, STORE

PAGE_SIZE = 30
ACTOR_PREFIX = "operator:"
ACKED = (("", "全部"), ("0", "未确认"), ("1", "已确认"))
SILENCE_HOURS = (("1", "1 小时"), ("4", "4 小时"), ("8", "8 小时"), ("24", "1 天"), ("72", "3 天"), ("168", "7 天"))


def _choice(value: str, allowed: dict[str, str] | tuple[tuple[str, str], ...], what: str,
            notes: list[str]) -> str:
    """The value when it is one of the choices (or empty); else empty, and a note says it was ignored."""
    keys = allowed.keys() if isinstance(allowed, dict) else [k for k, _ in allowed]
    if value and value not in keys:
        notes.append(f"{what}“{value[:30]}”无效，已忽略")
        return ""
    return value


# ---------------------------------------------------------------- alerts


async def alerts(request: web.Request) -> web.Response:
    app, q, s = request.app, request.query, request[SESSION]
    unit_names = names(request)
    notes: list[str] = []
    category = _choice(q.get("category", ""), CATEGORY_LABELS, "类别", notes)
    unit = _choice(q.get("unit", ""), unit_names, "单位", notes)
    acked = _choice(q.get("acked", ""), ACKED, "确认状态", notes)
    page, note = r.page_number(q)
    notes += [note] if note else []
    where: dict[str, Any] = {"kind": "alert", "category": category, "unit_id": unit,
                             "acked": None if not acked else acked == "1"}
    total = (await app[STORE].alerts(**where, limit=1))[1]
    pages = r.page_count(total, PAGE_SIZE)
    page = min(page, pages)
    rows, _ = await app[STORE].alerts(**where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    controls = [r.select("category", [("", "全部类别"), *CATEGORY_LABELS.items()], category, "类别"),
                r.select("unit", [("", "全部单位"), *unit_names.items()], unit, "单位"),
                r.select("acked", list(ACKED), acked, "确认状态")]
    back = request.path_qs
    active = await app[STORE].active_silences(app[CLOCK].now())
    ops = operations_for(request)
    table_rows = []
    for a in rows:
        where_text = unit_names.get(a["unit_id"], a["unit_id"])
        if a["account_id"]:
            where_text = f"{where_text} · 账号 {a['account_id']}" if where_text else f"账号 {a['account_id']}"
        if a["acked_at"]:
            ack = Html(f'<td>{tag("span", "已确认", class_="tag s-delivered")}<div class="muted">'
                       f'{esc(a["acked_by"])} · {r.when(a["acked_at"])}</div></td>')
        else:
            form = r.action_form("/actions/alert-ack", s.csrf, back, "确认", alert_id=a["id"])
            ack = tag("td", form, class_="nowrap")
        covered = silenced(active, AlertFacts(a["category"], a["unit_id"], account_id=a["account_id"]))
        target = a["account_id"] or a["unit_id"] or ""
        scope = f"{CATEGORY_LABELS.get(a['category'], '此类')}提醒 · {ops.target_text(target)}"
        if covered is not None:
            silence = Html(f'<td>{tag("span", "推送已静音", class_="tag s-skipped")}<div class="hint muted">'
                           f'至 {r.when(covered["until_at"])}（{esc(covered["created_by"])}）</div></td>')
        elif not may("/actions/silence"):
            silence = Html("<td></td>")
        else:
            silence = Html(
                f'<td class="nowrap"><form class="inline" method="post" action="/actions/silence">'
                f"{r.hidden(csrf=s.csrf, next=back, alert_id=a['id'])}"
                f'{_hours_select()}<input class="reason" name="reason" maxlength="200" required'
                f' placeholder="静音理由（必填）" aria-label="静音理由"><button type="submit" class="sec">静音</button>'
                f'</form><div class="hint muted">范围：{esc(scope)}</div></td>')
        table_rows.append([Html(f'<td class="nowrap">{r.when(a["at"])}<div class="muted">#{a["id"]}</div></td>'),
                           _category_cell(a["category"]),
                           where_text or "—", tag("td", a["message"], class_="reason"), ack, silence])
    summary = f"共 {total} 条提醒" + ("（仅显示符合筛选条件的）" if category or unit or acked else "")
    body: list[Any] = [r.filters("/alerts", controls), *(tag("p", n, class_="flash err") for n in notes),
                       tag("p", summary + "。确认表示已有人在处理；静音只停止推送，提醒仍会记录在这里。",
                           class_="muted"),
                       r.table(("时间", "类别", "单位 / 账号", "内容", "确认", "静音推送"), table_rows,
                               "没有符合条件的提醒"),
                       r.pager("/alerts", q, page, pages), tag("h2", "生效中的静音"),
                       await _silences(request)]
    return show(request, "提醒", r.join(body))


def _category_cell(category: str) -> Html:
    label = CATEGORY_LABELS.get(category, "其他")
    return Html(f"<td>{tag('span', label, class_='tag s-' + _tone(category))}</td>")


def _tone(category: str) -> str:
    return {"overdue": "overdue", "at_risk": "at_risk", "account": "needs_reauth", "delivery": "failed",
            "source": "failed"}.get(category, "pending")


def _hours_select() -> Html:
    opts = "".join(f'<option value="{v}"{" selected" if v == "4" else ""}>{t}</option>' for v, t in SILENCE_HOURS)
    return Html(f'<select name="hours" aria-label="静音时长">{opts}</select>')


async def _silences(request: web.Request) -> Html:
    app, s = request.app, request[SESSION]
    ops = operations_for(request)          # names a silence's target as the alert page does
    rows = [[CATEGORY_LABELS.get(x["category"], "全部类别") if x["category"] else "全部类别",
             ops.target_text(x["target"]), Html(f'<td class="nowrap">{r.when(x["until_at"])}</td>'),
             Html(f'<td>{esc(x["created_by"])}<div class="muted">{r.when(x["created_at"])}</div></td>'),
             tag("td", x["reason"], class_="reason"),
             tag("td", r.action_form("/actions/silence-end", s.csrf, request.path_qs, "结束静音", secondary=True,
                                     silence_id=x["id"]), class_="nowrap")]
            for x in await app[STORE].active_silences(app[CLOCK].now())]
    return r.table(("类别", "对象", "静音至", "设置人", "理由", "操作"), rows, "没有生效中的静音")


def _done(request: web.Request, form: Any, ok: bool, message: str) -> web.Response:
    return back_with(request, form, "/alerts", ok, message)


async def ack(request: web.Request) -> web.Response:
    form = await request.post()
    alert_id = r.whole_number(form.get("alert_id"))
    if alert_id is None:
        return _done(request, form, False, "提醒编号无效")
    o = await operations_for(request).ack_alert(alert_id, actor(request))
    return _done(request, form, o.ok, o.message)


async def silence(request: web.Request) -> web.Response:
    form = await request.post()
    alert_id, hours = r.whole_number(form.get("alert_id")), str(form.get("hours", ""))
    if alert_id is None:
        return _done(request, form, False, "提醒编号无效")
    if hours not in dict(SILENCE_HOURS):
        return _done(request, form, False, "请选择静音时长")
    until = request.app[CLOCK].now() + timedelta(hours=int(hours))
    o = await operations_for(request).silence(alert_id, until, str(form.get("reason", ""))[:200], actor(request))
    return _done(request, form, o.ok, o.message)


async def end_silence(request: web.Request) -> web.Response:
    form = await request.post()
    silence_id = r.whole_number(form.get("silence_id"))
    if silence_id is None:
        return _done(request, form, False, "静音编号无效")
    o = await operations_for(request).end_silence(silence_id, actor(request))
    return _done(request, form, o.ok, o.message)


# ---------------------------------------------------------------- audit log


def _day(text: str, what: str, notes: list[str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        notes.append(f"{what}“{text[:30]}”无效，应为 YYYY-MM-DD，已忽略")
        return None


async def audit(request: web.Request) -> web.Response:
    app, q = request.app, request.query
    tz = app[SETTINGS].deadlines.tz
    notes: list[str] = []
    actors = [x.removeprefix(ACTOR_PREFIX) for x in await app[STORE].alert_subjects("action")
              if x.startswith(ACTOR_PREFIX)]
    who = _choice(q.get("who", ""), tuple((a, a) for a in actors), "操作人", notes)
    since_d, until_d = _day(q.get("since", ""), "起始日期", notes), _day(q.get("until", ""), "截止日期", notes)
    text = q.get("q", "").strip()[:100]
    page, note = r.page_number(q)
    notes += [note] if note else []
    since = datetime.combine(since_d, datetime.min.time(), tz) if since_d else None
    until = datetime.combine(until_d + timedelta(days=1), datetime.min.time(), tz) if until_d else None
    where: dict[str, Any] = {"kind": "action", "subject": ACTOR_PREFIX + who if who else "", "text": text,
                             "since": since, "until": until}
    total = (await app[STORE].alerts(**where, limit=1))[1]
    pages = r.page_count(total, PAGE_SIZE)
    page = min(page, pages)
    rows, _ = await app[STORE].alerts(**where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    controls = [r.select("who", [("", "全部操作人"), *((a, a) for a in actors)], who, "操作人"),
                r.text_input("since", since_d.isoformat() if since_d else "", "日期从", "date"),
                r.text_input("until", until_d.isoformat() if until_d else "", "至（含）", "date"),
                r.text_input("q", text, "操作内容包含", placeholder="如 跳过、#12、ezfgw-weibo")]
    table_rows = [[Html(f'<td class="nowrap">{r.when(a["at"])}</td>'),
                   tag("td", a["subject"].removeprefix(ACTOR_PREFIX), class_="nowrap"),
                   tag("td", a["message"], class_="reason")] for a in rows]
    body: list[Any] = [r.filters("/audit", controls), *(tag("p", n, class_="flash err") for n in notes),
                       tag("p", f"共 {total} 条操作记录（最新的在前）。每一次重试、跳过、暂停、恢复、确认、"
                                "静音和检查都记录在此。", class_="muted"),
                       r.table(("时间", "操作人", "操作内容"), table_rows, "没有符合条件的操作记录"),
                       r.pager("/audit", q, page, pages)]
    return show(request, "操作记录", r.join(body))
