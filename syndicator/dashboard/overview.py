"""The overview page (what is due, what is late, per unit and channel) and the deliveries page
with its per-row actions and the channel accounts table."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import web

from core.models import ATTENTION_STATES, OPEN_STATES, Delivery, Item
from syndicator.alerting import CATEGORY_LABELS
from syndicator.content_limits import truncation_text
from syndicator.dashboard import render as r
from syndicator.dashboard.access import may
from syndicator.dashboard.backlog import (
    Blocked,
    blocked_accounts,
    blocked_problem,
    blocked_state,
    held_total,
)
from syndicator.dashboard.calendar_notices import notices_section
from syndicator.dashboard.platform_cells import platform_cell
from syndicator.dashboard.render import Html, esc, tag
from syndicator.dashboard.views import SESSION, config_order, names, show, unit_cell
from syndicator.labels import blocked_label, state_label
from syndicator.store import Store
from syndicator.web_keys import CALENDAR, CLOCK, SETTINGS, STORE, SUPERVISOR

ATTENTION = ATTENTION_STATES                  # what an operator may have to act on
RETRYABLE, SKIPPABLE = {"failed", "held", "retrying"}, set(ATTENTION) - {"sending"}
PAGE_ROWS = 50                                # deliveries per page on /deliveries
MATCH_LABELS = {"url": "链接相同", "guid": "唯一标识相同", "doc": "文号相同", "content": "标题与正文相同",
                "earlier": "早期按链接或正文合并"}


async def _titles(store: Store, rows: list[Delivery]) -> dict[int, Item | None]:
    items: dict[int, Item | None] = {}
    for d in rows:
        if d.item_id not in items:
            items[d.item_id] = await store.get_item(d.item_id)
    return items


async def _merged(store: Store, items: dict[int, Item | None]) -> dict[int, list[dict[str, Any]]]:
    """Per item, the upstream copies merged into it (every merge is shown, never only logged)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for m in await store.merges(item_ids=list(items), limit=20 * max(len(items), 1)):
        out.setdefault(m["item_id"], []).append(m)
    return out


def _merge_text(m: dict[str, Any]) -> str:
    return f"另见来源 {m['merged_source']}（{MATCH_LABELS.get(m['matched_by'], m['matched_by'])}，已合并为同一稿件）"


def _title_cell(item: Item | None, merged: Sequence[dict[str, Any]] = ()) -> Html:
    if item is None:
        return tag("td", "（稿件已删除）", class_="title")
    href = item.url if urlsplit(item.url).scheme in ("http", "https") else None
    date = ""
    if item.date_problem and item.published_at is None:   # the deadline was counted from detection
        raw = f"（原文：{item.published_raw[:40]}）" if item.published_raw.strip() else ""
        date = f'<div class="soon">来源发布时间无法识别{esc(raw)}，截止时间按检测时间计算</div>'
    flags = "".join(f'<div class="muted">{esc(_merge_text(m))}</div>' for m in merged)
    if item.truncated:
        flags += f'<div class="soon">{esc(truncation_text(item.truncated))}</div>'
    return Html(f'<td class="title">{tag("a", item.title, href=href, rel="noreferrer") if href else esc(item.title)}'
                f'<div class="muted">稿件 #{item.id} · {esc(item.origin or item.source_id)}</div>{date}{flags}</td>')


def _deadline_cell(d: Delivery, now: datetime, soon: datetime) -> Html:
    extra = ""
    if d.state in OPEN_STATES and d.deadline_at < now:
        extra = f'<div class="late">已超时 {r.hours((now - d.deadline_at).total_seconds() / 3600)} 小时</div>'
    elif d.state in OPEN_STATES and d.deadline_at < soon:
        extra = f'<div class="soon">剩余 {r.hours((d.deadline_at - now).total_seconds() / 3600)} 小时</div>'
    prov = '<div class="muted">临时截止（节假日未载入）</div>' if d.deadline_provisional else ""
    return Html(f'<td class="nowrap">{r.when(d.deadline_at)}{extra}{prov}</td>')


VERIFY_SHORT = {"pending": ("核验中：公开页面尚未见到", "muted"), "verified": ("已核验：公开可见", "muted"),
                "not_visible": ("公开页面未见", "late"), "unverifiable": ("无法核验", "muted"),
                "gone": ("已从公开页面消失", "late")}


def _state_cell(d: Delivery, blocked: Blocked | None = None) -> Html:
    """The state; a delivered row also shows when it was published and where (its proof is on its page).
    A row its account keeps back reads 暂存 / 已暂停, never 待发送 (syndicator.dashboard.backlog)."""
    kept = blocked_state(d, blocked or {})
    if kept is not None:
        cls = "s-paused" if kept[0] == "paused" else "s-held"
        return Html(f'<td>{tag("span", blocked_label(kept[0]), class_=f"tag {cls}")}</td>')
    proof = ""
    if d.state == "delivered":
        proof = f'<div class="muted">{r.when(d.delivered_at)}</div>'
        if d.external_url and urlsplit(d.external_url).scheme in ("http", "https"):
            proof += f'<div>{tag("a", "公开链接", href=d.external_url, rel="noreferrer")}</div>'
        seen = VERIFY_SHORT.get(d.verify_state or "")      # live verification (syndicator.verify)
        if seen:
            proof += f'<div class="{seen[1]}">{r.esc(seen[0])}</div>'
    return Html(f"<td>{r.state_tag(d.state)}{proof}</td>")


def _delivery_rows(request: web.Request, rows: list[Delivery], items: dict[int, Item | None],
                   actions: bool, merged: dict[int, list[dict[str, Any]]] | None = None,
                   blocked: Blocked | None = None, pick: bool = False) -> list[list[Any]]:
    """Table rows; ``actions`` adds the per-row buttons, ``pick`` a checkbox for the bulk form (id ``bulk``)."""
    app, s, unit_names = request.app, request[SESSION], names(request)
    now = app[CLOCK].now()
    soon = now + timedelta(hours=app[SETTINGS].deadlines.at_risk_hours)
    back = request.path_qs
    out = []
    for d in rows:
        kept = blocked_state(d, blocked or {})
        problem = d.last_error or d.note or ""
        if kept is not None:
            problem = blocked_problem(*kept)
        if d.possible_duplicate and "可能重复" not in problem:
            problem = f"可能重复：请到平台核对，删除多余一条。{problem}"
        cells: list[Any] = [tag("td", r.link(f"/delivery/{d.id}", d.id), class_="num"),
                            _title_cell(items.get(d.item_id), (merged or {}).get(d.item_id, ())),
                            unit_cell(unit_names.get(d.unit_id, d.unit_id)),
                            Html(f"<td>{esc(r.channel_name(d.channel_kind))}<div class=muted>{esc(d.account_id)}"
                                 f"</div></td>"),
                            _state_cell(d, blocked), _deadline_cell(d, now, soon),
                            tag("td", d.attempts, class_="num"), tag("td", problem, class_="err")]
        if pick:
            box = (f'<input type="checkbox" name="ids" value="{d.id}" form="bulk" aria-label="选择投递 #{d.id}">'
                   if d.state in SKIPPABLE else "")
            cells.insert(0, Html(f'<td class="pick">{box}</td>'))
        if actions:
            forms = []
            overdue_pending = d.state == "pending" and d.deadline_at < now
            if kept is not None:        # the way out is the account's, not the row's
                forms.append(r.action_form("/actions/resume", s.csrf, back, "恢复", account_id=d.account_id))
            elif d.state in RETRYABLE or overdue_pending:
                forms.append(r.action_form("/actions/retry", s.csrf, back, "重试", delivery_id=d.id))
            if d.state in SKIPPABLE:
                forms.append(r.action_form("/actions/skip", s.csrf, back, "跳过", reason="跳过理由（必填）",
                                           secondary=True, delivery_id=d.id))
            cells.append(Html(f'<td class="nowrap">{"".join(forms)}</td>'))
        out.append(cells)
    return out


DELIVERY_HEAD = ("#", "稿件", "单位", "渠道 / 账号", "状态", "截止时间（北京时间）", "尝试", "最近错误 / 备注")


# ---------------------------------------------------------------- overview


async def overview(request: web.Request) -> web.Response:
    app = request.app
    store, dl = app[STORE], app[SETTINGS].deadlines
    now = app[CLOCK].now()
    soon = now + timedelta(hours=dl.at_risk_hours)
    counts = await store.state_counts()
    overdue, due_soon = await store.deadline_counts(now, soon)
    open_rows = await store.deliveries(states=OPEN_STATES, limit=50_000)
    failed = await store.deliveries(states=["failed"], limit=50_000)
    late = [x.late_clock_hours for x in await store.delays(since=now - timedelta(days=30), kinds=["delivered_late"])]
    blocked = await blocked_accounts(store)
    alerts, alert_total = await store.alerts(kind="alert", limit=10)
    unacked = (await store.alerts(kind="alert", acked=False, limit=1))[1]
    held = await held_total(store, counts)
    open_n = sum(counts.get(st, 0) for st in OPEN_STATES)
    cards = [("未完成", open_n, ""), ("已超时未发布", overdue, "bad" if overdue else "good"),
             (f"{r.hours(dl.at_risk_hours)}小时内到期", due_soon, "warn" if due_soon else ""),
             (f"{state_label('failed')}待处理", counts.get("failed", 0), "bad" if counts.get("failed") else ""),
             (state_label("held"), held, "warn" if held else ""),
             (state_label("retrying"), counts.get("retrying", 0), ""),
             (state_label("delivered"), counts.get("delivered", 0), "good"),
             (state_label("skipped"), counts.get("skipped", 0), "")]
    duplicates = await store.possible_duplicate_count()
    cards.append(("可能重复（需核对）", duplicates, "warn" if duplicates else ""))
    parts: list[Any] = [tag("div", Html(f"<b>节假日安排提醒：</b>{esc(w)}"), class_="banner", role="alert")
                        for w in app[CALENDAR].warnings(now.astimezone(dl.tz).date())]
    parts.append(await notices_section(request))
    parts += [tag("div", Html(f"<b>后台任务异常：</b>{esc(p)}"), class_="banner", role="alert")
              for p in app[SUPERVISOR].problems().values()]
    parts = [tag("div", r.join(parts), data_live="banners")]           # live regions: syndicator.dashboard.live
    parts.append(tag("div", r.join([Html('<div class="cards">' + "".join(
        f'<div class="card {c}"><div class="n">{n}</div><div class="l">{esc(label)}</div></div>'
        for label, n, c in cards) + "</div>"),
        tag("p", f"统计时间 {r.local_text(now)}（北京时间）；截止规则：{_rule_text(dl)}。", class_="muted")]),
        data_live="counts"))
    parts += [tag("h2", "各单位各渠道待办"), tag("div", _unit_table(request, open_rows, failed, now, soon, blocked),
                                                 data_live="units")]
    if duplicates:
        parts.append(tag("p", r.link("/deliveries", f"查看 {duplicates} 条可能重复的投递 →", state="all", dup="1"),
                         class_="muted"))
    oldest = open_rows[:15]
    items = await _titles(app[STORE], oldest)
    due = [r.table((*DELIVERY_HEAD, "操作"),
                   _delivery_rows(request, oldest, items, True, await _merged(app[STORE], items), blocked),
                   "没有未完成的投递", numeric=(0, 6))]
    if len(open_rows) > len(oldest):
        due.append(tag("p", r.link("/deliveries", f"查看全部 {len(open_rows)} 条未完成投递 →"), class_="muted"))
    parts += [tag("h2", "最早到期的未完成投递"), tag("div", r.join(due), data_live="due")]
    summary = (f"近30天超时发布 {len(late)} 条" + (f"，最长 {r.hours(max(late))} 小时" if late else "")
               + f"；当前已超时未发布 {overdue} 条。")
    chart = Html(f'<div class="chart">{r.lateness_chart(late)}<p class="muted">{esc(summary)}</p></div>')
    s = request[SESSION]
    blocked_rows = [[a, Html(f"<td>{r.state_tag(st, r.ACCOUNT_STATE_LABELS)}</td>"), reason or "",
                     Html(f"<td>{r.action_form('/actions/resume', s.csrf, '/', '恢复', account_id=a)}</td>")]
                    for a, (st, reason) in sorted(blocked.items())]
    parts += [tag("h2", f"跨来源合并（共 {await store.merge_count()} 次，最近10次）"), await _merges_table(app[STORE])]
    alert_items = "".join(f"<li><span class=muted>{r.when(a['at'])} · {esc(CATEGORY_LABELS.get(a['category'], '提醒'))}"
                          f"{' · 已确认' if a['acked_at'] else ''}</span><br>{esc(a['message'])}</li>"
                          for a in alerts) or "<li class=muted>暂无提醒</li>"
    more = r.link("/alerts", f"查看全部提醒（共 {alert_total} 条，未确认 {unacked} 条），确认或静音 →")
    side = Html(f'<div>{tag("h2", "超时时长分布")}{chart}{tag("h2", "暂停或需授权的账号")}'
                f'{r.table(("账号", "状态", "原因", "操作"), blocked_rows, "所有账号正常")}</div>')
    parts.append(Html(f'<div class="grid2" data-live="alerts"><div>{tag("h2", "最新提醒（10条）")}'
                      f'<ul class="alerts">{alert_items}</ul><p class="muted">{more}</p></div>{side}</div>'))
    return show(request, "总览", r.join(parts), live=True)


async def _merges_table(store: Store) -> Html:
    rows = [[Html(f'<td class="nowrap">{r.when(m["merged_at"])}</td>'),
             Html(f'<td class="title">{esc(m["title"])}<div class="muted">稿件 #{m["item_id"]}</div></td>'),
             m["first_source"], m["merged_source"], MATCH_LABELS.get(m["matched_by"], m["matched_by"]),
             m["merged_title"] or ""] for m in await store.merges(limit=10)]
    return r.table(("合并时间", "稿件", "首个来源", "合并的来源", "依据", "该来源的标题"), rows, "暂无合并")


def _rule_text(dl: Any) -> str:
    if dl.rule == "next_working_day_end":
        return f"上级发布后第1个工作日 {dl.day_end} 前完成转载"
    if dl.rule == "working_days":
        return f"上级发布后第{dl.days}个工作日 {dl.day_end} 前完成转载"
    return f"上级发布后 {dl.days} 个工作日的办公时间内完成转载（{dl.office_start}–{dl.office_end}）"


def _unit_table(request: web.Request, open_rows: list[Delivery], failed: list[Delivery], now: datetime,
                soon: datetime, blocked: Blocked) -> Html:
    c: Counter[tuple[str, str, str]] = Counter()
    for d in open_rows:
        key = (d.unit_id, d.channel_kind)
        c[(*key, "open")] += 1
        c[(*key, "overdue")] += d.deadline_at < now
        c[(*key, "soon")] += now <= d.deadline_at < soon
        c[(*key, "held")] += d.state == "held" or blocked_state(d, blocked) is not None
    for d in failed:
        c[(d.unit_id, d.channel_kind, "failed")] += 1
    keys = sorted({k[:2] for k in c}, key=config_order(request))
    unit_names = names(request)
    rows = [[unit_cell(unit_names.get(u, u), i == 0 or keys[i - 1][0] != u, f"/deliveries?unit={quote(u)}"),
             Html(f'<td class="nowrap">{r.esc(r.channel_name(ch))}</td>'), r.num(c[(u, ch, "open")]),
             r.num(c[(u, ch, "overdue")], "late"), r.num(c[(u, ch, "soon")], "soon"), r.num(c[(u, ch, "held")]),
             r.num(c[(u, ch, "failed")], "late")] for i, (u, ch) in enumerate(keys)]
    return r.table(("单位", "渠道", "未完成", "已超时", "即将到期", state_label("held"), state_label("failed")), rows,
                   "所有单位均无待办", numeric=(2, 3, 4, 5, 6), compact=True)


# ---------------------------------------------------------------- deliveries and actions


async def deliveries(request: web.Request) -> web.Response:
    app, q = request.app, request.query
    state, unit, account, item = q.get("state", ""), q.get("unit", ""), q.get("account", ""), q.get("item", "").strip()
    title = q.get("q", "").strip()[:100]
    dup = q.get("dup", "") == "1"        # possible duplicates are mostly delivered: all states unless one is chosen
    states = None if state == "all" or (dup and not state) else [state] if state in r.STATE_LABELS else list(ATTENTION)
    accounts = [a for u, a in app[SETTINGS].accounts() if not unit or u.id == unit]
    item_id = r.whole_number(item)
    number, page_note = r.page_number(q)
    where: dict[str, Any] = {"states": states, "account_id": account or None, "unit_id": unit or None,
                             "item_id": item_id, "possible_duplicate": True if dup else None, "title": title or None}
    total = await app[STORE].count_deliveries(**where)
    pages = r.page_count(total, PAGE_ROWS)
    number = min(number, pages)
    shown = await app[STORE].deliveries(**where, limit=PAGE_ROWS, offset=(number - 1) * PAGE_ROWS)
    items = await _titles(app[STORE], shown)
    blocked = await blocked_accounts(app[STORE])
    merged = await _merged(app[STORE], items)
    units = [("", "全部单位"), *((u.id, u.name) for u in app[SETTINGS].units)]
    controls = [r.text_input("q", title, "标题包含", placeholder="输入标题中的词"),
                r.select("state", [("", "需处理（未完成与失败）"), ("all", "全部状态"), *r.STATE_LABELS.items()],
                         state, "状态"),
                r.select("unit", units, unit, "单位"),
                r.select("account", [("", "全部账号"), *((a.id, a.id) for a in accounts)], account, "账号"),
                r.text_input("item", item, "稿件编号", placeholder="如 12"),
                r.select("dup", [("", "全部投递"), ("1", "仅可能重复")], "1" if dup else "", "可能重复")]
    notes = [tag("p", n, class_="flash err") for n in (
        None if item_id is not None or not item else "稿件编号应为数字，已忽略。",
        None if not state or state == "all" or state in r.STATE_LABELS else "状态无效，已显示需处理的投递。",
        page_note) if n]
    found = f"共 {total} 条" + (f"（标题包含“{title}”）" if title else "")
    parts = [r.filters("/deliveries", controls), *notes, _bulk_form(request),
             tag("div", r.join([
                 tag("p", found, class_="muted"),
                 r.table(("选择", *DELIVERY_HEAD, "操作"),
                         _delivery_rows(request, shown, items, True, merged, blocked, pick=True),
                         "没有符合条件的投递", numeric=(1, 7)),
                 r.pager("/deliveries", q, number, pages)]), data_live="list"),
             tag("h2", "渠道账号"), tag("div", await _accounts_table(request, accounts), data_live="accounts")]
    return show(request, "投递", r.join(parts), live=True)


def _bulk_form(request: web.Request) -> Html:
    """Retry or skip the rows ticked below (their checkboxes belong to this form through form="bulk"); not drawn
    for a role that may not take it."""
    if not may("/actions/bulk"):
        return Html("")
    s = request[SESSION]
    return Html(f'<form id="bulk" class="bulk" method="post" action="/actions/bulk">'
                f"{r.hidden(csrf=s.csrf, next=request.path_qs)}<span>对勾选的投递：</span>"
                f'<button type="submit" name="what" value="retry">批量重试</button>'
                f'<input class="reason" name="reason" maxlength="200" placeholder="跳过理由（批量跳过时必填）"'
                f' aria-label="跳过理由">'
                f'<button type="submit" name="what" value="skip" class="sec">批量跳过</button></form>')


async def _accounts_table(request: web.Request, accounts: list[Any]) -> Html:
    app, s = request.app, request[SESSION]
    states = await app[STORE].account_states()
    owner = {a.id: u for u, a in app[SETTINGS].accounts()}
    rows = []
    for a in accounts:
        st, reason = states.get(a.id, ("active", None))
        form = (r.action_form("/actions/resume", s.csrf, request.path_qs, "恢复", account_id=a.id) if st != "active"
                else r.action_form("/actions/pause", s.csrf, request.path_qs, "暂停", reason="暂停理由（必填）",
                                   secondary=True, account_id=a.id))
        state = Html(f"<td>{r.state_tag(st, r.ACCOUNT_STATE_LABELS)}</td>")
        platform, more = await platform_cell(app, a, s.csrf, request.path_qs)
        rows.append([owner[a.id].name, a.id, r.channel_name(a.kind), state, reason or "", platform,
                     Html(f'<td class="nowrap">{form}{more}</td>')])
    return r.table(("单位", "账号", "渠道", "状态", "原因", "授权 / 发文方式", "操作"), rows, "没有启用的渠道账号")


