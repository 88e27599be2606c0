"""The delivery detail page — the inspector's "show me where and when unit X reprinted item Y" — and the
exports filed with it: the printable monthly report (HTML) and a unit's evidence package (ZIP).

The page is a list of sections (``SECTIONS``), each a function of the gathered facts; a later section
(e.g. verification of the public page) is one more function in that list.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from syndicator.anchors import ANCHOR_DEFINITIONS, anchor_label
from syndicator.dashboard import access
from syndicator.dashboard import render as r
from syndicator.dashboard.backlog import WAITING, blocked_accounts, blocked_problem
from syndicator.dashboard.records import month_param, neutralise, url_link
from syndicator.dashboard.render import Html, tag
from syndicator.dashboard.views import SESSION, actor, back_with, names, operations_for, show
from syndicator.evidence import detail_rows, evidence_files, evidence_zip, report_details
from syndicator.labels import blocked_label, outcome_label
from syndicator.redact import redact
from syndicator.report import format_report, monthly_report
from syndicator.report_html import PRINT_CSS
from syndicator.web_keys import CALENDAR, CLOCK, SETTINGS, STORE

Facts = dict[str, Any]


def _facts_table(rows: list[tuple[str, Any]]) -> Html:
    body = "".join(f"<tr><th>{r.esc(k)}</th><td>{r.esc(v)}</td></tr>" for k, v in rows)
    return Html(f'<div class="scroll"><table class="compact facts"><tbody>{body}</tbody></table></div>')


def _item_section(f: Facts) -> Html:
    d = f["row"]
    upstream = r.when(d["published_at"])
    if d["published_at"] is None and d["published_raw"]:
        upstream = Html(f'{upstream}<div class="soon">原文：{r.esc(d["published_raw"][:60])}（无法识别）</div>')
    rows = [("稿件", d["title"]), ("上游链接", url_link(d["item_url"])), ("信息源", d["source_id"]),
            ("上游发布时间", upstream), ("本系统发现时间", r.when(d["detected_at"])),
            ("时间起算口径", anchor_label(d["anchor_kind"])), ("截止时间起算点", r.when(d["anchor_at"]))]
    if d["detection_note"]:
        rows.append(("发现时来源状况", d["detection_note"]))
    for c in f["corrections"]:
        was = r.local_text(c["old_published_at"]) if c["old_published_at"] else "无"
        now_at = r.local_text(c["new_published_at"])
        rows.append(("人工更正", f"{r.local_text(c['at'])} {c['actor']}：{was} → {now_at}，理由：{c['reason']}"))
    s = f["session"]
    form = "" if not access.may("/actions/correct-time") else Html(
        f'<form class="inline" method="post" action="/actions/correct-time">'
        f'{r.hidden(csrf=s.csrf, next=f["back"], item_id=d["item_id"])}'
        '<input name="time" required placeholder="YYYY-MM-DD HH:MM（北京时间）" aria-label="正确的上游发布时间">'
        '<input class="reason" name="reason" maxlength="200" required placeholder="更正理由（必填）" aria-label="理由">'
        '<button type="submit" class="sec">更正上游发布时间</button></form>')
    return r.join([tag("h2", "稿件与时间"), _facts_table(rows), form])


def _delivery_section(f: Facts) -> Html:
    d = f["row"]
    prov = "（临时计算：节假日安排未载入）" if d["deadline_provisional"] else ""
    state, way_out = r.state_tag(d["state"]), Html("")
    kept = f["blocked"].get(d["account_id"]) if d["state"] in WAITING else None
    if kept is not None:            # its account keeps it back: say so, why, and the way out
        state = Html(f'{tag("span", blocked_label(kept[0]), class_="tag s-held")}'
                     f'<div class="err">{r.esc(blocked_problem(*kept))}</div>')
        way_out = r.action_form("/actions/resume", f["session"].csrf, f["back"], "恢复", account_id=d["account_id"])
    rows = [("单位", f["names"].get(d["unit_id"], d["unit_id"])),
            ("渠道 / 账号", f"{r.channel_name(d['channel_kind'])} / {d['account_id']}"),
            ("状态", Html(f"{state}{way_out}")), ("截止时间", Html(f"{r.when(d['deadline_at'])}{r.esc(prov)}")),
            ("公开链接", url_link(d["external_url"])), ("平台发布时间", r.when(d["platform_published_at"])),
            ("本系统确认发布时间", r.when(d["delivered_at"])), ("平台编号", d["external_id"] or "—"),
            ("超时（工作小时）", r.hours(d["late_working_hours"])), ("备注", d["note"] or "—"),
            ("最近错误", d["last_error"] or "—")]
    if d["possible_duplicate"]:
        rows.append(("提示", "此前发送结果无法与平台核实，可能重复发布"))
    return r.join([tag("h2", "转载结果"), _facts_table(rows)])


def _attempts_section(f: Facts) -> Html:
    codes = {rc["at"]: rc["code"] for rc in f["receipts"] if rc["code"]}
    rows = [[r.when(a["started_at"]), r.when(a["finished_at"]), outcome_label(a["outcome"]),
             codes.get(a["finished_at"]) or "", tag("td", a["detail"] or "", class_="err")] for a in f["attempts"]]
    return r.join([tag("h2", "发送尝试"), r.table(("开始", "结束", "结果", "平台代码", "说明"), rows, "尚无发送尝试")])


def _receipts_section(f: Facts) -> Html:
    rows = [[r.when(rc["at"]), outcome_label(rc["outcome"]), rc["code"] or "", url_link(rc["url"]),
             r.when(rc["platform_published_at"]),
             Html(f'<td><pre class="receipt">{r.esc(json.dumps(rc["body"], ensure_ascii=False, indent=1))}</pre></td>')
             if rc["body"] is not None else ""] for rc in f["receipts"]]
    head = ("时间", "结果", "平台代码", "链接", "平台发布时间", "平台应答")
    return r.join([tag("h2", "平台回执"), r.table(head, rows, "本投递没有平台回执")])


def _delays_section(f: Facts) -> Html:
    rows = [[r.when(x["recorded_at"]), r.state_tag(x["kind"], r.DELAY_KIND_LABELS), r.hours(x["late_working_hours"]),
             tag("td", x["reason"], class_="reason")] for x in f["delays"]]
    return r.join([tag("h2", "延误记录"), r.table(("记录时间", "类型", "超时（工作小时）", "原因"), rows, "无延误记录"),
                   tag("p", ANCHOR_DEFINITIONS, class_="muted")])


VERIFY_LABELS = {"pending": "核验中（仅发送）", "verified": "已核验：公开可见", "not_visible": "公开页面未见",
                 "unverifiable": "无法核验", "gone": "已从公开页面消失", None: "未核验（仅发送）"}
_CHECKS = {"seen": "可见", "absent": "未见", "error": "未能核验", "unverifiable": "无法核验"}


def _verify_section(f: Facts) -> Html:
    """Live verification (syndicator.verify): the state and every check's proof (URL, time, HTTP status, what
    matched, the page's hash, the platform's JSON)."""
    v = f["verify"]
    head = _facts_table([("核验状态", VERIFY_LABELS.get(v.get("verify_state"), v.get("verify_state") or "—")),
                         ("核验确认时间", r.when(v.get("verified_at"))), ("下次核验", r.when(v.get("verify_next_at"))),
                         ("核验次数", v.get("verify_attempts") or 0), ("核验说明", v.get("verify_note") or "—")])
    def answer(x: dict[str, Any]) -> Html | str:
        if x["api_json"] is None:
            return ""
        text = json.dumps(x["api_json"], ensure_ascii=False, indent=1)
        return Html(f'<td><pre class="receipt">{r.esc(text)}</pre></td>')

    rows = [[r.when(x["at"]), _CHECKS.get(x["outcome"], x["outcome"]), url_link(x["url"]),
             "" if x["http_status"] is None else str(x["http_status"]), x["matched"] or "",
             tag("td", (x["page_hash"] or "")[:16], class_="mono"), tag("td", x["reason"] or "", class_="reason"),
             answer(x)] for x in f["verifications"]]
    table = r.table(("时间", "结果", "核验页面", "HTTP 状态", "匹配", "页面摘要（SHA-256）", "说明", "平台应答"), rows,
                    "尚未核验")
    return r.join([tag("h2", "公开页面核验"), head, table])


SECTIONS: list[Callable[[Facts], Html]] = [_item_section, _delivery_section, _attempts_section, _receipts_section,
                                           _verify_section, _delays_section]


async def delivery_detail(request: web.Request) -> web.Response:
    app = request.app
    did = int(request.match_info["id"])
    rows = await detail_rows(app[STORE], settings_for=app[SETTINGS].deadlines_for, calendar=app[CALENDAR],
                             now=app[CLOCK].now(), ids=[did])
    if not rows:
        return show(request, "投递不存在", tag("p", f"投递 #{did} 不存在。"), status=404)
    row = rows[0]
    facts: Facts = {
        "row": row, "names": names(request), "session": request[SESSION], "back": request.path_qs,
        "attempts": await app[STORE].attempts_of(did), "receipts": (await app[STORE].receipts([did])).get(did, []),
        "corrections": await app[STORE].time_corrections(row["item_id"]),
        "delays": await app[STORE].delay_records_of(did), "blocked": await blocked_accounts(app[STORE]),
        "verify": await app[STORE].verify_summary(did), "verifications": await app[STORE].verifications(did),
    }
    return show(request, f"投递 #{did}：{row['title']}", r.join(section(facts) for section in SECTIONS))


async def correct_time(request: web.Request) -> web.StreamResponse:
    app = request.app
    form = await request.post()
    item = str(form.get("item_id", ""))
    ops = operations_for(request)
    if r.whole_number(item) is None:
        outcome = (False, "稿件编号无效")
    else:
        o = await ops.correct_time(int(item), str(form.get("time", ""))[:64],
                                   str(form.get("reason", "")).strip()[:200], actor(request), app[CALENDAR])
        outcome = (o.ok, o.message)
    return back_with(request, form, "/deliveries", *outcome)


async def report_html(request: web.Request) -> web.Response:
    """The printable monthly report: its own page (own CSP: the print stylesheet is inline)."""
    app, month = request.app, month_param(request)
    try:
        rows = await monthly_report(app[STORE], month, app[CALENDAR], app[SETTINGS].deadlines,
                                    app[SETTINGS].deadlines_for)
        details = await report_details(app[STORE], month, app[CALENDAR], app[SETTINGS].deadlines,
                                       app[SETTINGS].deadlines_for)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    text = format_report(rows, "html", month=month, names=names(request), as_of=app[CLOCK].now(),
                         tz=app[SETTINGS].deadlines.tz, details=details)
    css_hash = base64.b64encode(hashlib.sha256(PRINT_CSS.encode()).digest()).decode()
    headers = {**r.SECURITY_HEADERS, "Content-Security-Policy":
               f"default-src 'none'; style-src 'sha256-{css_hash}'; form-action 'none'; frame-ancestors 'none'"}
    return web.Response(text=text, content_type="text/html", charset="utf-8", headers=headers)


async def evidence_download(request: web.Request) -> web.StreamResponse:
    """A unit's evidence for a month as a ZIP: evidence.csv (UTF-8 with BOM) and receipts/<delivery>.json."""
    app, month = request.app, month_param(request)
    unit = request.query.get("unit", "")
    if unit not in names(request):
        raise web.HTTPBadRequest(text="未知单位")
    try:
        rows = await report_details(app[STORE], month, app[CALENDAR], app[SETTINGS].deadlines,
                                    app[SETTINGS].deadlines_for, unit=unit)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    safe = [{**x, "title": neutralise(x["title"]), "reason": neutralise(x["reason"] or "")} for x in rows]
    files = await evidence_files(app[STORE], safe, app[SETTINGS].deadlines.tz,
                                 {k: neutralise(v) for k, v in names(request).items()})
    # Binary, so the guard cannot redact it: each file (UTF-8 text) is redacted here before zipping.
    files = {name: redact(data.decode("utf-8")).encode("utf-8") for name, data in files.items()}
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", f"evidence_{unit}_{month}.zip")
    resp = web.StreamResponse(headers={**r.SECURITY_HEADERS, "Cache-Control": "no-store",
                                       "Content-Disposition": f'attachment; filename="{filename}"'})
    resp.content_type = "application/zip"
    await resp.prepare(request)
    await resp.write(evidence_zip(files))
    await resp.write_eof()
    return resp
