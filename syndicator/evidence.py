"""The inspector's per-delivery record: where and when each unit reprinted each item, and proof.

One row per delivery with the columns an inspector files (``DETAIL_COLUMNS``): the same rows feed the
monthly report's listing, the delay CSV's extra columns, the dashboard's detail page and the evidence
export (``main.py evidence``: a CSV, UTF-8 with BOM so a spreadsheet opens it, plus every platform
receipt the hub holds as JSON; the dashboard offers the same as a ZIP).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from core.clock import SHANGHAI
from syndicator.anchors import DATA_QUALITY_KINDS, anchor_label
from syndicator.calendar import WorkCalendar
from syndicator.deadlines import DeadlineSettings, lateness
from syndicator.labels import channel_label, hours_text, local_text, state_label
from syndicator.report import month_bounds
from syndicator.store import Store

SettingsFor = Callable[[str | None], DeadlineSettings]
DETAIL_COLUMNS = ("投递编号", "单位", "渠道", "账号", "稿件", "上游链接", "上游发布时间", "本系统发现时间",
                  "截止时间", "截止时间为临时计算", "状态", "发布时间（本系统确认）", "平台发布时间", "公开链接",
                  "超时（工作小时）", "原因", "时间起算口径")
BOM = "\ufeff"
NO_URL = "（平台未返回公开链接，需人工核对）"   # delivered, but e.g. Weibo judged a lost reply's resend a repeat


def _t(value: datetime | None, tz: tzinfo) -> str:
    return local_text(value, tz) if value is not None else ""


def late_at(row: Mapping[str, Any], now: datetime) -> datetime | None:
    """The moment a delivery's lateness is measured to: delivery, or when it was failed/skipped, or now."""
    if row["state"] == "delivered":
        return row["delivered_at"]
    if row["state"] in ("failed", "skipped"):
        return row["updated_at"]
    return now


async def detail_rows(store: Store, *, settings_for: SettingsFor, calendar: WorkCalendar, now: datetime,
                      ids: list[int] | None = None, after: datetime | None = None, until: datetime | None = None,
                      unit_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Deliveries (by id, or with a deadline in (after, until], optionally of one unit) with lateness in
    working hours as their source's settings count it and the most telling delay reason on record."""
    rows = await store.proof_rows(ids=ids, deadline_after=after, deadline_until=until, unit_id=unit_id, limit=limit)
    reasons = await store.final_reasons([r["id"] for r in rows])
    for r in rows:
        at = late_at(r, now)
        r["late_clock_hours"], r["late_working_hours"] = (
            lateness(r["deadline_at"], at, settings_for(r["source_id"]), calendar) if at else (0.0, 0.0))
        r["delay_kind"], r["reason"] = reasons.get(r["id"], ("", ""))
    return rows


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


def detail_csv(rows: list[Mapping[str, Any]], tz: tzinfo = SHANGHAI, names: Mapping[str, str] | None = None,
               *, bom: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DETAIL_COLUMNS)
    writer.writerows(detail_cells(r, tz, names) for r in rows)
    return (BOM if bom else "") + buf.getvalue()


async def report_details(store: Store, month: str, calendar: WorkCalendar, settings: DeadlineSettings,
                         settings_for: SettingsFor | None = None, unit: str | None = None,
                         limit: int | None = None) -> list[dict[str, Any]]:
    """One row per delivery with a deadline in ``month`` (the report's listing; syndicator.evidence)."""
    start, end = month_bounds(month, settings)
    return await detail_rows(store, settings_for=settings_for or (lambda _s: settings), calendar=calendar,
                             now=store.clock.now(), after=start, until=end, unit_id=unit, limit=limit)


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


async def evidence_files(store: Store, rows: list[dict[str, Any]], tz: tzinfo,
                         names: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """File name -> content: ``evidence.csv`` (UTF-8 with BOM) and ``receipts/<delivery id>.json`` per
    delivery the hub holds platform answers, attempts or public-page checks for."""
    files = {"evidence.csv": detail_csv(rows, tz, names, bom=True).encode("utf-8")}
    ids = [r["id"] for r in rows]
    receipts = await store.receipts(ids)
    for r in rows:
        attempts = await store.attempts_of(r["id"])
        checks = await store.verifications(r["id"])
        if not attempts and r["id"] not in receipts and not checks:
            continue
        proof = {
            "delivery_id": r["id"], "unit_id": r["unit_id"], "account_id": r["account_id"],
            "channel": r["channel_kind"], "title": r["title"], "upstream_url": r["item_url"],
            "state": r["state"], "external_id": r["external_id"], "public_url": r["external_url"],
            "delivered_at": r["delivered_at"], "platform_published_at": r.get("platform_published_at"),
            "attempts": attempts, "receipts": receipts.get(r["id"], []),
            # live verification (docs/verification.md): the state and every check's proof
            "verification": await store.verify_summary(r["id"]), "verifications": checks,
        }
        files[f"receipts/{r['id']}.json"] = json.dumps(proof, ensure_ascii=False, indent=2, default=_iso).encode()
    return files


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def write_evidence(files: Mapping[str, bytes], out: Path) -> list[Path]:
    written = []
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def evidence_zip(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()
