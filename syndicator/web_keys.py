"""Typed wiring of the web app: the parts its handlers read, put there by the hub (``Hub.web_app``).

Handlers read ``request.app[STORE]`` and the like, never the hub: the web layer (syndicator.web, the dashboard,
manual_web, weibo_reauth) then needs nothing from syndicator.app, which builds it, and a handler's type says
exactly what it may touch.
"""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from core.clock import Clock
from syndicator.calendar import WorkCalendar
from syndicator.calendar_notices import CalendarNotices
from syndicator.config import Settings
from syndicator.dispatch import Dispatcher
from syndicator.manual_desk import ManualDesk
from syndicator.operations import Operations
from syndicator.store import Store
from syndicator.supervisor import Supervisor
from syndicator.verify.worker import Verifier
from syndicator.web_auth import ClientAddress

# Refused inbound requests by (door, reason, account), counted for /metrics.
Refusals = Counter[tuple[str, str, str]]

STORE: web.AppKey[Store] = web.AppKey("store", Store)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
CALENDAR: web.AppKey[WorkCalendar] = web.AppKey("calendar", WorkCalendar)
CALENDAR_NOTICES: web.AppKey[CalendarNotices] = web.AppKey("calendar_notices", CalendarNotices)
OPERATIONS: web.AppKey[Operations] = web.AppKey("operations", Operations)   # the hub's one, shared by every door
SUPERVISOR: web.AppKey[Supervisor] = web.AppKey("supervisor", Supervisor)
DISPATCHER: web.AppKey[Dispatcher] = web.AppKey("dispatcher", Dispatcher)
VERIFIER: web.AppKey[Verifier] = web.AppKey("verifier", Verifier)
MANUAL: web.AppKey[ManualDesk] = web.AppKey("manual_desk", ManualDesk)
REFUSALS: web.AppKey[Refusals] = web.AppKey("refusals")
CLIENT: web.AppKey[ClientAddress] = web.AppKey("client_address", ClientAddress)
