"""The operator dashboard (Simplified Chinese): server-rendered pages behind login and CSRF checks.

Its settings (``DashboardSettings``) live with the rest of the configuration in ``syndicator.config``.
"""

from __future__ import annotations

import logging

from aiohttp import web

from syndicator.config import DashboardSettings
from syndicator.dashboard import actions, alerts_log, calendar_notices, detail, live, overview, records, views, weibo
from syndicator.dashboard.auth import Auth, cmd_hash_password
from syndicator.dashboard.errors import chinese_errors

__all__ = ["cmd_hash_password", "setup_dashboard"]
log = logging.getLogger(__name__)


def setup_dashboard(app: web.Application, settings: DashboardSettings) -> None:
    """Add the dashboard's routes to ``app`` (before it starts); its pages read the parts the hub put in the app's
    keys (syndicator.web_keys). Does nothing when disabled."""
    if not settings.enabled:
        return
    if not settings.users:
        log.warning("dashboard enabled but [dashboard.users] is empty: nobody can log in "
                    "(add one with: python main.py hash-password)")
    app.middlewares.append(chinese_errors)
    app[views.AUTH] = Auth(settings)
    g = views.guard
    app.router.add_get("/login", views.login_form)
    app.router.add_post("/login", views.login)
    app.router.add_post("/logout", g(views.logout))
    app.router.add_get("/", g(overview.overview))
    app.router.add_get("/deliveries", g(overview.deliveries))
    app.router.add_post("/actions/{what:retry|skip|pause|resume}", g(views.action))
    app.router.add_post("/actions/calendar-confirm", g(calendar_notices.confirm))
    app.router.add_get("/delays", g(records.delays))
    app.router.add_get("/delays.csv", g(records.delays_csv))
    app.router.add_get("/sources", g(records.sources))
    app.router.add_get("/report", g(records.report))
    app.router.add_get("/report.csv", g(records.report_csv))
    app.router.add_get("/report.html", g(detail.report_html))
    app.router.add_get("/delivery/{id:\\d+}", g(detail.delivery_detail))
    app.router.add_post("/actions/correct-time", g(detail.correct_time))
    app.router.add_get("/evidence.zip", g(detail.evidence_download))
    app.router.add_get("/alerts", g(alerts_log.alerts))
    app.router.add_get("/audit", g(alerts_log.audit))
    app.router.add_post("/actions/alert-ack", g(alerts_log.ack))
    app.router.add_post("/actions/silence", g(alerts_log.silence))
    app.router.add_post("/actions/silence-end", g(alerts_log.end_silence))
    app.router.add_post("/actions/bulk", g(actions.bulk))
    app.router.add_post("/actions/check-source", g(actions.check_source))
    weibo.setup_routes(app, g)
    live.setup_live(app, g)
