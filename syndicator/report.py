"""What `main.py delays` and `main.py report` print: the delay log and the monthly timeliness report.

Rows are plain dicts (JSON-ready after formatting) so the dashboard and console can reuse them.
Percentiles use linear interpolation between closest ranks — numpy's default and Excel's
PERCENTILE.INC — so an inspector can reproduce them from the CSV in a spreadsheet. Working hours
are measured with each source's own deadline settings, as the delay records are. An overdue record
whose delivery is still open shows its lateness as of the listing, not as of when it was written.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from core.clock import SHANGHAI
from core.models import FINAL_STATES
from syndicator.anchors import ANCHOR_DEFINITIONS, DATA_QUALITY_KINDS, anchor_label
from syndicator.calendar import WorkCalendar
from syndicator.deadlines import DeadlineSettings, lateness
from syndicator.labels import channel_label, delay_kind_label, hours_text, local_text, state_label
from syndicator.report_html import report_html
from syndicator.store import Store

REPORT_DEFINITIONS = (
    "口径：应转载 = 截止时间在本月的转载任务（每条稿件 × 每个渠道账号）；按时 = 截止时间前已发布；"
    "超时发布 = 截止时间后发布；未发布（已超时）= 统计时间已过截止时间仍未发布（含发送失败、等待重试、账号暂停），"
    "不含人工跳过；人工跳过 = 经人工决定不转载（理由见延误记录）；未到期 = 统计时间尚未到截止时间且未发布"
    "（含发送失败待人工处理的）。按时率 = 按时 ÷（按时 + 超时发布 + 未发布）；超时统计仅含超时发布的稿件，"
    "工作小时按各信息源的截止规则计算，中位数与95分位按线性插值计算（同 Excel PERCENTILE.INC）。"
    "可能重复 = 发送中途进程中断、平台又无法查询是否已发，只能重发的转载任务：平台上可能出现两条，请人工核对并删除"
    "多余一条（已计入上述各项，不另行计数）。"
    "基线（未纳入考核）= 发布于本系统开始跟踪该来源之前的稿件，照常转载、单独统计，不计入以上各项。"
    "核验（已发布的转载任务）：已核验 = 在公开页面（网站页面、微博、公众号文章）见到；仅发送 = 平台已受理、"
    "尚未在公开页面见到且截止时间未过（或发布于核验功能启用前）；公开页面未见 = 截止时间已过仍未见到，"
    "按时发送的记入延误记录（已发送但公开页面未见）；无法核验 = 渠道无公开页面（如极光推送）；"
    "发布后消失 = 曾核验可见、之后在公开页面消失（已告警）。"
    + ANCHOR_DEFINITIONS)
SettingsFor = Callable[[str | None], DeadlineSettings]


def delay_columns(tz_name: str = "Asia/Shanghai") -> tuple[str, ...]:
    zone = "北京时间" if tz_name == "Asia/Shanghai" else tz_name
    return ("单位", "渠道", "账号", "稿件", "类型", f"截止时间（{zone}）", "记录时间", "超时（小时）",
            "超时（工作小时）", "当前状态", "原因")


def tz_label(tz: tzinfo) -> str:
    return "北京时间" if str(tz) == "Asia/Shanghai" else str(tz)


DELAY_COLUMNS = delay_columns()
# What the delay CSV (and JSON) adds per record so an inspector can check it against the sites themselves.
PROOF_FIELDS = ("item_url", "published_at", "detected_at", "deadline_provisional", "delivered_at",
                "platform_published_at", "external_url", "anchor_kind")
PROOF_COLUMNS = ("上游链接", "上游发布时间", "本系统发现时间", "截止时间为临时计算", "发布时间（本系统确认）",
                 "平台发布时间", "公开链接", "时间起算口径")
# Live verification (syndicator.verify) of the delivered ones: seen publicly, sent only, not seen, cannot be seen.
VERIFY_KEYS = ("verified", "sent_only", "not_visible", "unverifiable", "gone")
VERIFY_COLUMNS = ("已核验（公开可见）", "仅发送（未核验）", "公开页面未见", "无法核验", "发布后消失")
REPORT_COLUMNS = ("单位", "渠道", "应转载", "按时", "超时发布", "未发布（已超时）", "人工跳过", "未到期", "按时率",
                  "超时中位数（小时）", "超时95分位（小时）", "超时中位数（工作小时）", "超时95分位（工作小时）",
                  "可能重复", "基线（未纳入考核）", *VERIFY_COLUMNS)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


async def delays_listing(store: Store, since: datetime | None, until: datetime | None, unit: str | None,
                         channel: str | None, *, calendar: WorkCalendar, settings_for: SettingsFor,
                         now: datetime) -> list[dict[str, Any]]:
    """Delay records recorded in [since, until), optionally for one unit and one channel kind or account.

    An overdue record of a delivery still not finished gets its lateness measured at ``now``
    (``late_as_of`` says so; the recorded values stay in ``recorded_late_*``). Once the delivery is
    finished, its delivered_late / failed / skipped record carries the final lateness.
    """
    records = await store.delays(since=since, until=until, unit_id=unit or None, channel=channel or None)
    rows = []
    for r in records:
        clock_h, work_h, as_of = r.late_clock_hours, r.late_working_hours, None
        if r.kind.value == "overdue" and r.delivery_state not in FINAL_STATES and r.deadline_at is not None:
            clock_h, work_h = lateness(r.deadline_at, now, settings_for(r.source_id), calendar)
            as_of = now
        rows.append({
            "delivery_id": r.delivery_id, "unit_id": r.unit_id, "channel": r.channel_kind,
            "account_id": r.account_id, "item_title": r.item_title, "kind": r.kind.value, "state": r.delivery_state,
            "deadline_at": r.deadline_at, "recorded_at": r.recorded_at, "late_clock_hours": clock_h,
            "late_working_hours": work_h, "late_as_of": as_of, "recorded_late_clock_hours": r.late_clock_hours,
            "recorded_late_working_hours": r.late_working_hours, "reason": r.reason,
        })
    proofs = {p["id"]: p for p in await store.proof_rows(ids=sorted({r["delivery_id"] for r in rows}))}
    for row in rows:
        p = proofs.get(row["delivery_id"], {})
        row.update({k: p.get(k) for k in PROOF_FIELDS})
    return rows


def state_text(row: Mapping[str, Any], tz: tzinfo = SHANGHAI) -> str:
    """The delivery's state now; for a live overdue row, the moment its lateness is measured to."""
    if row.get("late_as_of") is not None:
        return f"仍未发布（超时计至 {local_text(row['late_as_of'], tz)}）"
    return state_label(row.get("state") or "")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _clip(text: str, limit: int) -> str:
    if _width(text) <= limit:
        return text
    out = ""
    for ch in text:
        if _width(out + ch) > limit - 1:
            return out + "…"
        out += ch
    return out


def _table(header: Sequence[str], rows: list[list[str]]) -> str:
    widths = [max(_width(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header).rstrip(), "  ".join("-" * w for w in widths), *(line(r).rstrip() for r in rows)])


def _csv(header: Sequence[str], rows: list[list[Any]], title: Sequence[str] = (), footer: str = "") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if title:
        writer.writerow([t for t in title if t])
    writer.writerow(header)
    writer.writerows(rows)
    if footer:
        writer.writerow([footer])
    return buf.getvalue()


def format_delays(rows: list[dict[str, Any]], fmt: str = "table", *, names: Mapping[str, str] | None = None,
                  tz: tzinfo = SHANGHAI) -> str:
    """table (aligned, reason clipped), csv (full text; open in Excel as UTF-8) or json (ISO times)."""
    names = names or {}
    if fmt == "json":
        iso = lambda t: t.astimezone(tz).isoformat() if t else None  # noqa: E731
        times = ("deadline_at", "recorded_at", "late_as_of", "published_at", "detected_at", "delivered_at",
                 "platform_published_at")
        return json.dumps([{**r, "kind_label": delay_kind_label(r["kind"]), "state_label": state_text(r, tz),
                            "anchor_label": anchor_label(r.get("anchor_kind")), **{k: iso(r.get(k)) for k in times}}
                           for r in rows], ensure_ascii=False, indent=2)
    table = fmt == "table"
    cells = [[
        names.get(r["unit_id"], r["unit_id"]), channel_label(r["channel"]), r["account_id"],
        _clip(r["item_title"], 40) if table else r["item_title"], delay_kind_label(r["kind"]),
        local_text(r["deadline_at"], tz) if r["deadline_at"] else "", local_text(r["recorded_at"], tz),
        hours_text(r["late_clock_hours"]), hours_text(r["late_working_hours"]), state_text(r, tz),
        _clip(r["reason"], 80) if table else r["reason"],
    ] for r in rows]
    columns = delay_columns(str(tz))
    if fmt == "csv":
        t = lambda v: local_text(v, tz) if v else ""  # noqa: E731
        for row, r in zip(cells, rows, strict=True):
            row += [r.get("item_url") or "", t(r.get("published_at")), t(r.get("detected_at")),
                    "是" if r.get("deadline_provisional") else "否", t(r.get("delivered_at")),
                    t(r.get("platform_published_at")), r.get("external_url") or "", anchor_label(r.get("anchor_kind"))]
        return _csv((*columns, *PROOF_COLUMNS), cells)
    if fmt != "table":
        raise ValueError(f"未知输出格式 {fmt!r}：可选 table、csv、json")
    if not cells:
        return "（所选范围内没有延误记录）"
    live = [r["late_as_of"] for r in rows if r.get("late_as_of") is not None]
    note = f"\n注：仍未发布的“已超时未发布”记录，超时时长计算至 {local_text(live[0], tz)}。" if live else ""
    return _table(columns, cells) + note


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (PERCENTILE.INC); None for no values."""
    if not values:
        return None
    xs = sorted(values)
    h = (len(xs) - 1) * p
    lo = int(h)
    return xs[lo] if lo + 1 >= len(xs) else xs[lo] + (h - lo) * (xs[lo + 1] - xs[lo])


def month_bounds(month: str, settings: DeadlineSettings) -> tuple[datetime, datetime]:
    m = _MONTH.match(month.strip())
    if not m:
        raise ValueError(f"月份应为 YYYY-MM 格式，例如 2025-10，实际为 {month!r}")
    year, mon = int(m.group(1)), int(m.group(2))
    start = datetime(year, mon, 1, tzinfo=settings.tz)
    return start, datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=settings.tz)


async def monthly_report(store: Store, month: str, calendar: WorkCalendar, settings: DeadlineSettings,
                         settings_for: SettingsFor | None = None) -> list[dict[str, Any]]:
    """Per unit and channel kind, for deliveries whose deadline falls in ``month`` (in ``settings``'
    zone; a deadline of "31st 24:00" belongs to the month it closes), as of now (``as_of``).

    required = on_time + late + missing + skipped + open (definitions: REPORT_DEFINITIONS). missing:
    not delivered and not skipped, deadline past at report time (failed included); skipped (by a
    person, with a reason) is counted apart; open: not delivered or skipped, not yet due. Lateness
    statistics are over late deliveries only, in clock hours and in office hours on working days as
    each source's settings (``settings_for``) define them — the same numbers as its delay records.
    """
    settings_for = settings_for or (lambda _source: settings)
    start, end = month_bounds(month, settings)
    now = store.clock.now()
    late: defaultdict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for unit, kind, source, deadline, delivered in await store.month_late(start, end):
        late[(unit, kind)].append(lateness(deadline, delivered, settings_for(source), calendar))
    verify = await store.verify_counts(start, end)
    rows = []
    for r in await store.month_counts(start, end, now):
        n = {k: int(r[f"n_{k}"] or 0) for k in ("required", "on_time", "late", "skipped", "missing", "baseline")}
        due = n["on_time"] + n["late"] + n["missing"]
        clock_h = [c for c, _ in late[(r["unit_id"], r["channel_kind"])]]
        work_h = [w for _, w in late[(r["unit_id"], r["channel_kind"])]]
        rows.append({
            "month": month, "as_of": now, "unit_id": r["unit_id"], "channel": r["channel_kind"], **n,
            "open": n["required"] - due - n["skipped"] - n["baseline"],
            "on_time_rate": n["on_time"] / due if due else None,
            "late_median_hours": percentile(clock_h, 0.5), "late_p95_hours": percentile(clock_h, 0.95),
            "late_median_working_hours": percentile(work_h, 0.5), "late_p95_working_hours": percentile(work_h, 0.95),
            "possible_duplicate": int(r["n_possible_duplicate"] or 0),
            **{k: verify.get((r["unit_id"], r["channel_kind"]), {}).get(k, 0) for k in VERIFY_KEYS},
        })
    return rows


def verify_summary(rows: Sequence[Mapping[str, Any]]) -> str:
    """"；核验：…" over all rows (empty when nothing was delivered)."""
    n = {k: sum(int(r.get(k, 0)) for r in rows) for k in VERIFY_KEYS}
    if not any(n.values()):
        return ""
    return (f"；核验：已核验 {n['verified']}，仅发送 {n['sent_only']}，公开页面未见 {n['not_visible']}，"
            f"无法核验 {n['unverifiable']}" + (f"，发布后消失 {n['gone']}" if n["gone"] else ""))


def _month_title(month: str | None) -> str:
    if month and _MONTH.match(month):
        return f"{month[:4]}年{int(month[5:])}月转载时效月报"
    return "转载时效月报"


def format_report(rows: list[dict[str, Any]], fmt: str = "md", *, month: str | None = None,
                  names: Mapping[str, str] | None = None, as_of: datetime | None = None,
                  tz: tzinfo = SHANGHAI, details: Sequence[Mapping[str, Any]] | None = None) -> str:
    """Markdown (title, report time, summary, definitions, table) or CSV (title and report time,
    the table, the definitions); with ``details`` (syndicator.evidence.detail_rows) also one line per
    delivery and the sources' data-quality problems."""
    names = names or {}
    month = month or (rows[0]["month"] if rows else None)
    as_of = as_of or (rows[0].get("as_of") if rows else None)
    title = _month_title(month) + f"（截止时间在本月的转载任务，{tz_label(tz)}）"
    stamp = f"统计时间：{local_text(as_of, tz)}（{tz_label(tz)}）" if as_of else ""
    opt = lambda v: "" if v is None else hours_text(v)  # noqa: E731
    cells = [[
        names.get(r["unit_id"], r["unit_id"]), channel_label(r["channel"]), r["required"], r["on_time"], r["late"],
        r["missing"], r["skipped"], r["open"], "" if r["on_time_rate"] is None else f"{r['on_time_rate']:.1%}",
        opt(r["late_median_hours"]), opt(r["late_p95_hours"]), opt(r["late_median_working_hours"]),
        opt(r["late_p95_working_hours"]), r.get("possible_duplicate", 0), r.get("baseline", 0),
        *(r.get(k, 0) for k in VERIFY_KEYS),
    ] for r in rows]
    if fmt == "csv":
        return _csv(REPORT_COLUMNS, cells, [title, stamp], footer=REPORT_DEFINITIONS) + _csv_details(details, tz, names)
    if fmt not in ("md", "html"):
        raise ValueError(f"未知输出格式 {fmt!r}：可选 md、csv、html")
    total = {k: sum(r.get(k, 0) for r in rows)
             for k in ("required", "on_time", "late", "missing", "skipped", "open", "possible_duplicate", "baseline")}
    due = total["on_time"] + total["late"] + total["missing"]
    rate = f"，按时率 {total['on_time'] / due:.1%}" if due else ""
    rate += f"；其中可能重复 {total['possible_duplicate']} 条，需人工核对" if total["possible_duplicate"] else ""
    baseline = f"；另有基线（未纳入考核）{total['baseline']} 条" if total["baseline"] else ""
    baseline += verify_summary(rows)
    summary = (f"应转载 {total['required']} 条：按时 {total['on_time']}，超时发布 {total['late']}，"
               f"未发布（已超时）{total['missing']}，人工跳过 {total['skipped']}，未到期 {total['open']}{rate}"
               f"{baseline}。")
    if fmt == "html":
        listing = None if details is None else (DETAIL_COLUMNS, [detail_cells(d, tz, names) for d in details])
        quality = None if details is None else (QUALITY_COLUMNS, data_quality(details))
        return report_html(title, stamp, summary, REPORT_DEFINITIONS, REPORT_COLUMNS, cells, listing, quality, tz)
    lines = [f"# {title}", "", *([stamp, ""] if stamp else []), summary, "", REPORT_DEFINITIONS, ""]
    if not rows:
        return "\n".join([*lines, "本月没有截止时间在本月的转载任务。"]) + _md_details(details, tz, names)
    lines += _md_table(REPORT_COLUMNS, cells)
    return "\n".join(lines) + _md_details(details, tz, names)


def _md_table(header: Sequence[str], cells: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in cells)]


def _md_details(details: Sequence[Mapping[str, Any]] | None, tz: tzinfo, names: Mapping[str, str]) -> str:
    if details is None:
        return ""
    lines = ["", "", "## 逐条明细", ""]
    lines += _md_table(DETAIL_COLUMNS, [detail_cells(d, tz, names) for d in details]) if details else ["（无）"]
    quality = data_quality(details)
    lines += ["", "## 来源数据质量问题", ""]
    lines += _md_table(QUALITY_COLUMNS, quality) if quality else ["（无）"]  # type: ignore[arg-type]
    return "\n".join(lines)


def _csv_details(details: Sequence[Mapping[str, Any]] | None, tz: tzinfo, names: Mapping[str, str]) -> str:
    if details is None:
        return ""
    quality = data_quality(details)
    return ("\n" + _csv(DETAIL_COLUMNS, [detail_cells(d, tz, names) for d in details], ["逐条明细"])
            + "\n" + _csv(QUALITY_COLUMNS, quality, ["来源数据质量问题"]))  # type: ignore[arg-type]


# ---------------------------------------------------------------- the per-delivery listing
# Here rather than in syndicator.evidence, which builds on it: the report's Markdown, CSV and HTML forms
# print the same lines, and the evidence export reads this module, never the other way round.

DETAIL_COLUMNS = ("投递编号", "单位", "渠道", "账号", "稿件", "上游链接", "上游发布时间", "本系统发现时间",
                  "截止时间", "截止时间为临时计算", "状态", "发布时间（本系统确认）", "平台发布时间", "公开链接",
                  "超时（工作小时）", "原因", "时间起算口径")
NO_URL = "（平台未返回公开链接，需人工核对）"   # delivered, but e.g. Weibo judged a lost reply's resend a repeat


def _t(value: datetime | None, tz: tzinfo) -> str:
    return local_text(value, tz) if value is not None else ""


def detail_cells(r: Mapping[str, Any], tz: tzinfo = SHANGHAI, names: Mapping[str, str] | None = None) -> list[str]:
    names = names or {}
    return [
        str(r["id"]), names.get(r["unit_id"], r["unit_id"]), channel_label(r["channel_kind"]),
        r["account_id"], r["title"], r["item_url"], _t(r["published_at"], tz), _t(r["detected_at"], tz),
        _t(r["deadline_at"], tz), "是" if r["deadline_provisional"] else "否",
        state_label(r["state"]), _t(r["delivered_at"], tz), _t(r.get("platform_published_at"), tz),
        r["external_url"] or (NO_URL if r["state"] == "delivered" else ""), hours_text(r["late_working_hours"]),
        r.get("reason") or "",
        anchor_label(r["anchor_kind"]),
    ]


def data_quality(details: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Per source, the deliveries' items whose upstream time was implausible or missing (distinct items)."""
    seen: dict[int, Mapping[str, Any]] = {}
    for d in details:
        if d["anchor_kind"] in DATA_QUALITY_KINDS:
            seen.setdefault(d["item_id"], d)
    out = []
    for d in seen.values():
        raw = d.get("published_raw") or ""
        problem = ("未提供发布时间" if d["anchor_kind"] == "detected" and d["published_at"] is None
                   else "发布时间无法识别" if d["published_at"] is None else "发布时间晚于发现时间（超出容差）")
        out.append([d["source_id"], d["title"], d["item_url"], problem + (f"（原文：{raw}）" if raw else "")])
    return sorted(out)


QUALITY_COLUMNS = ("来源", "稿件", "上游链接", "问题")
