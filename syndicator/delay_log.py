"""The delay log file: one JSON object per line, rotated by size, for log shippers and inspectors.

Each line has a ``type``: ``delay`` (a new delay record) or ``superseded`` (a record made obsolete
because the delivery's deadline was recomputed under a new holiday arrangement; the monitor then
records the delivery afresh). Nothing is ever rewritten, so the file alone tells the whole story.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, tzinfo
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from core.clock import SHANGHAI
from core.models import DelayRecord
from syndicator.logs import guarded
from syndicator.store.deadlines import SupersededDelay
from syndicator.store.reports import DeliveryFacts


class DelayLog:
    """A logger of its own (outside the logging tree, so nothing reaches the root logger)."""

    def __init__(self, path: Path, max_bytes: int = 10_000_000, backups: int = 10, tz: tzinfo = SHANGHAI) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tz = tz
        self._handler: logging.Handler | None = RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger = logging.Logger(f"syndicator.delay_log:{path}", logging.INFO)
        self._logger.propagate = False
        self._logger.addHandler(guarded(self._handler))        # secrets masked (syndicator.redact)

    def _iso(self, t: datetime | None) -> str | None:
        return t.astimezone(self.tz).isoformat() if t else None

    def _write(self, entry: dict[str, Any]) -> None:
        if self._handler is not None:
            self._logger.info(json.dumps(entry, ensure_ascii=False))

    def delay(self, r: DelayRecord, f: DeliveryFacts) -> None:
        self._write({
            "type": "delay", "kind": r.kind.value, "recorded_at": self._iso(r.recorded_at),
            "delivery_id": r.delivery_id, "item_id": f.item_id, "item_title": r.item_title, "source_id": f.source_id,
            "unit_id": r.unit_id, "account_id": r.account_id, "channel": r.channel_kind, "state": f.state,
            "deadline_at": self._iso(r.deadline_at), "deadline_provisional": f.provisional,
            "delivered_at": self._iso(f.delivered_at), "late_clock_hours": round(r.late_clock_hours, 3),
            "late_working_hours": round(r.late_working_hours, 3), "reason": r.reason,
            "causes": [{"kind": c.kind.value, "facts": c.facts} for c in r.causes],   # the reason's facts, as data
        })

    def superseded(self, s: SupersededDelay) -> None:
        self._write({
            "type": "superseded", "kind": s.kind, "recorded_at": self._iso(s.recorded_at),
            "superseded_at": self._iso(s.superseded_at), "delivery_id": s.delivery_id, "item_title": s.item_title,
            "unit_id": s.unit_id, "account_id": s.account_id, "channel": s.channel_kind,
            "old_deadline_at": self._iso(s.old_deadline_at), "new_deadline_at": self._iso(s.new_deadline_at),
            "late_clock_hours": round(s.late_clock_hours, 3), "late_working_hours": round(s.late_working_hours, 3),
            "reason": s.reason, "why": s.why,
        })

    def close(self) -> None:
        if self._handler is not None:
            self._logger.removeHandler(self._handler)
            self._handler.close()
            self._handler = None
