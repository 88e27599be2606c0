"""The hub's HTTP face: health, JSON API for operators and tools, and platform callbacks.

Handlers read what they need through typed ``web.AppKey``s (syndicator.web_keys) that the hub fills when it builds
the app (``Hub.web_app``); nothing here holds state of its own or knows the hub.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from syndicator.api_schema import OPENAPI, DeliveriesQuery
from syndicator.config import WebSettings
from syndicator.health import readiness
from syndicator.metrics import collect_metrics
from syndicator.redact import redact
from syndicator.status import status_report
from syndicator.web_auth import ClientAddress, api_guard, json_error
from syndicator.web_keys import (
    CALENDAR,
    CLIENT,
    CLOCK,
    DISPATCHER,
    REFUSALS,
    SETTINGS,
    STORE,
    SUPERVISOR,
    VERIFIER,
    Refusals,
)


async def healthz(request: web.Request) -> web.Response:
    """Readiness: 503, naming the loop (or ``store``) and why, when this hub is not doing its work."""
    app = request.app
    report = await readiness(app[SUPERVISOR], app[STORE], app[SETTINGS].hub.instance_id)
    return web.json_response(report, status=200 if report["ok"] else 503, dumps=_dumps)


async def livez(request: web.Request) -> web.Response:
    """Liveness for process supervisors: the event loop answers (see syndicator.health)."""
    return web.json_response({"ok": True})


async def api_status(request: web.Request) -> web.Response:
    app = request.app
    report = await status_report(app[STORE], app[SETTINGS], app[CALENDAR], app[CLOCK], app[SUPERVISOR])
    return web.json_response(report, dumps=_dumps)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, or OpenMetrics when the scraper asks for it (the library chooses)."""
    app = request.app
    registry = await collect_metrics(app[STORE], app[SETTINGS], app[CALENDAR], app[CLOCK], app[SUPERVISOR],
                                     app[DISPATCHER], app[VERIFIER], app[REFUSALS])
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=redact(encoder(registry).decode("utf-8")).encode("utf-8"),
                        headers={"Content-Type": content_type, "X-Content-Type-Options": "nosniff"})


async def api_deliveries(request: web.Request) -> web.Response:
    try:
        query = DeliveriesQuery.parse(request.query)
    except ValueError as exc:
        return json_error(400, str(exc))
    rows = await request.app[STORE].deliveries(states=query.states, account_id=query.account, limit=query.limit)
    return web.json_response([_delivery_json(d) for d in rows], dumps=_dumps)


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this JSON API (syndicator.api_schema)."""
    return web.json_response(OPENAPI, dumps=_dumps)


def _delivery_json(d: Any) -> dict[str, Any]:
    return {
        "id": d.id, "item_id": d.item_id, "unit": d.unit_id, "account": d.account_id, "channel": d.channel_kind,
        "state": d.state.value, "deadline_at": d.deadline_at.isoformat(), "provisional": d.deadline_provisional,
        "attempts": d.attempts, "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
        "external_url": d.external_url, "last_error": d.last_error, "note": d.note,
        "possible_duplicate": d.possible_duplicate,
        "verify_state": d.verify_state,     # live verification (syndicator.verify); null: never checked
    }


def _dumps(obj: Any) -> str:
    return redact(json.dumps(obj, ensure_ascii=False, default=str))     # every API answer is masked


def api_app(settings: WebSettings, refusals: Refusals) -> web.Application:
    """The app with its API guard and the health, JSON API and metrics routes; the hub fills the other keys
    (syndicator.web_keys) and adds the doors it has (callbacks, manual pages, dashboard)."""
    client = ClientAddress(settings.trusted_proxies)
    app = web.Application(middlewares=[api_guard(settings.api_keys, client,
                                                 lambda reason: refusals.update([("api", reason, "")]))])
    app[CLIENT] = client
    app[REFUSALS] = refusals
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/api/deliveries", api_deliveries)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    return app


async def start_web(app: web.Application, settings: WebSettings) -> web.AppRunner:
    """Serve ``app`` on ``[web] host``/``port``; the caller cleans the runner up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    return runner
