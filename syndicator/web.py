"""The hub's HTTP face: health, JSON API for operators and tools, and platform callbacks.

Resources are wired with ``web.AppKey`` (aiohttp-demos style); nothing here holds state of its own.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aiohttp import web

from syndicator.api_schema import OPENAPI, DeliveriesQuery
from syndicator.redact import redact
from syndicator.status import status_report
from syndicator.web_auth import ClientAddress, api_guard, json_error

if TYPE_CHECKING:
    from syndicator.app import Hub

HUB: web.AppKey[Any] = web.AppKey("hub")
CLIENT: web.AppKey[ClientAddress] = web.AppKey("client_address", ClientAddress)


async def healthz(request: web.Request) -> web.Response:
    """Readiness: 503, naming the loop (or ``store``) and why, when this hub is not doing its work."""
    from syndicator.health import readiness

    report = await readiness(request.app[HUB])
    return web.json_response(report, status=200 if report["ok"] else 503, dumps=_dumps)


async def livez(request: web.Request) -> web.Response:
    """Liveness for process supervisors: the event loop answers (see syndicator.health)."""
    return web.json_response({"ok": True})


async def api_status(request: web.Request) -> web.Response:
    return web.json_response(await status_report(request.app[HUB]), dumps=_dumps)


async def metrics(request: web.Request) -> web.Response:
    from syndicator.metrics import render_metrics

    return web.Response(text=redact(await render_metrics(request.app[HUB])), content_type="text/plain",
                        headers={"X-Content-Type-Options": "nosniff"}, charset="utf-8")


async def api_deliveries(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    try:
        query = DeliveriesQuery.parse(request.query)
    except ValueError as exc:
        return json_error(400, str(exc))
    rows = await hub.store.deliveries(states=query.states, account_id=query.account, limit=query.limit)
    return web.json_response([_delivery_json(d) for d in rows], dumps=_dumps)


async def openapi(request: web.Request) -> web.Response:
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
    import json

    return redact(json.dumps(obj, ensure_ascii=False, default=str))     # every API answer is masked


def _console_answer(hub: Hub) -> Any:
    """The WeChat admin console's answer function, or None when no admins are configured."""
    settings = hub.settings.console
    manual = getattr(hub, "manual", None)
    if not settings.admins and not (manual is not None and manual.informants()):
        return None
    from syndicator.console import Console
    from syndicator.operations import Operations

    console = Console(Operations(hub.settings, hub.store, hub.clock, hub.dispatcher, hub.calendar_notices),
                      functools.partial(status_report, hub), settings, hub.clock, manual)
    return console.answer


def build_web_app(hub: Hub) -> web.Application:
    web_settings = hub.settings.web
    client = ClientAddress(web_settings.trusted_proxies)
    app = web.Application(middlewares=[api_guard(
        web_settings.api_keys, client, lambda reason: hub.refusals.update([("api", reason, "")]))])
    app[HUB] = hub
    app[CLIENT] = client
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/livez", livez)
    app.router.add_get("/api/status", api_status)
    app.router.add_get("/api/deliveries", api_deliveries)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    wechat_accounts = {a.id: a for _u, a in hub.settings.accounts() if a.kind == "wechat"}
    if wechat_accounts:
        from channels.wechat.callback import make_wechat_callback

        handler = make_wechat_callback(
            wechat_accounts, hub.dispatcher.hint, _console_answer(hub), hub.store.kv, clock=hub.clock,
            refused=lambda account, reason: hub.refusals.update([("wechat_callback", reason, account)]))
        app.router.add_route("*", "/wechat/callback/{account_id}", handler)
    manual = getattr(hub, "manual", None)
    if manual is not None and manual.channels:
        from syndicator.manual_web import add_manual_routes

        add_manual_routes(app, hub)
    if hub.settings.dashboard.enabled:
        from syndicator.dashboard import setup_dashboard

        setup_dashboard(app, hub, hub.settings.dashboard)
    return app


async def start_web(hub: Hub) -> web.AppRunner:
    runner = web.AppRunner(build_web_app(hub), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, hub.settings.web.host, hub.settings.web.port)
    await site.start()
    return runner
