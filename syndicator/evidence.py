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
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from core.clock import SHANGHAI
from syndicator.calendar import WorkCalendar
from syndicator.deadlines import DeadlineSettings, lateness
from syndicator.report import DETAIL_COLUMNS, detail_cells, month_bounds
from syndicator.store import Store

SettingsFor = Callable[[str | None], DeadlineSettings]
BOM = "\ufeff"


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
