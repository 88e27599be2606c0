"""Calendar gaps reach people, not only the start-up log.

``WorkCalendar.warnings()`` changes while the hub runs: on 1 December next year becomes a gap,
and a fallback year is first used when an item arrives. Checked on every calendar tick, each
warning is logged when it appears and once a day while it persists, and alerted once when new.
Alerted warnings are remembered in the store, so neither a restart nor a second hub repeats the
alert (hubs sharing a database take a lease for the read-alert-write, so two checking in the same
moment do not both alert); one that goes away (override added) and comes back is alerted again.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, tzinfo

from core.models import Alert
from syndicator.calendar import WorkCalendar
from syndicator.store import Store

log = logging.getLogger(__name__)
ALERTED_KEY = "calendar:alerted-warnings"
ALERT_LEASE = "calendar-alerts"


class CalendarWarnings:
    def __init__(self, calendar: WorkCalendar, store: Store, alert: Alert, tz: tzinfo, *, holder: str) -> None:
        self.calendar, self.store, self.alert, self.tz, self.holder = calendar, store, alert, tz, holder
        self._logged: dict[str, date] = {}   # warning -> day it was last logged

    async def check(self, now: datetime) -> list[str]:
        """Log and alert as due; return the warnings alerted by this call."""
        today = now.astimezone(self.tz).date()
        current = self.calendar.warnings(today)
        for text in current:
            if self._logged.get(text) != today:
                log.warning("calendar: %s", text)
                self._logged[text] = today
        self._logged = {t: d for t, d in self._logged.items() if t in current}
        if not await self.store.kv.lease(ALERT_LEASE, self.holder, 60):
            return []          # another hub is checking right now; it alerts what is new
        try:
            raw = await self.store.kv.get(ALERTED_KEY)
            alerted = set(json.loads(raw)) if raw else set()
            new = [t for t in current if t not in alerted]
            for text in new:
                await self.alert("calendar", f"【节假日安排】{text}")
            if set(current) != alerted:
                await self.store.kv.put(ALERTED_KEY, json.dumps(sorted(current), ensure_ascii=False))
        finally:
            await self.store.kv.release(ALERT_LEASE, self.holder)
        return new
