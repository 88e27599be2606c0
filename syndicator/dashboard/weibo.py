"""Weibo re-authorisation pages: 重新授权 on the dashboard, and Weibo's redirect back (syndicator.weibo_reauth
tells the whole flow and keeps the token-expiry watch)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable

from aiohttp import web

from channels.base import ChannelError
from channels.weibo.channel import DEFAULT_BASE_URL
from channels.weibo.tokens import authorize_url, exchange_code
from core.clock import SHANGHAI
from syndicator.dashboard import render as r
from syndicator.dashboard.render import Html, esc
from syndicator.dashboard.views import SESSION, Handler, redirect, show
from syndicator.web_keys import CLOCK, DISPATCHER, OPERATIONS, SETTINGS, STORE
from syndicator.weibo_reauth import STATE_TTL_S, weibo_channel

log = logging.getLogger(__name__)


def _callback_url(request: web.Request, account_id: str) -> str:
    base = request.app[SETTINGS].web.public_url.rstrip("/") or str(request.url.origin())
    return f"{base}/weibo/callback/{account_id}"


async def start(request: web.Request) -> web.StreamResponse:
    """POST /accounts/weibo/{account_id}/authorize (behind the dashboard guard)."""
    store, account_id = request.app[STORE], request.match_info["account_id"]
    channel = weibo_channel(request.app[DISPATCHER].bindings, account_id)
    if channel is None:
        return redirect("/deliveries")
    state = secrets.token_urlsafe(32)
    await store.kv.put(f"weibo:oauth-state:{state}", json.dumps({"account": account_id,
                                                                     "user": request[SESSION].user}),
                           ttl_seconds=STATE_TTL_S)
    base = channel.account.base_url or DEFAULT_BASE_URL
    try:
        url = authorize_url(channel.account, base, _callback_url(request, account_id), state)
    except ChannelError as exc:                          # app_key / app_secret not configured
        return show(request, "微博重新授权", Html(f"<p>{esc(exc.reason)}</p>"), status=400)
    # A page with a link, not a redirect: the dashboard's CSP "form-action 'self'" (rightly) stops a form from
    # redirecting to another site.
    body = Html(f"<p>即将前往微博开放平台：请以本单位微博账号（{esc(account_id)}）登录并同意授权，"
                f"完成后会自动回到本系统。链接 10 分钟内有效。</p><p>{r.link(url, '前往微博授权 →')}</p>")
    return show(request, "微博重新授权", body)


def _page(title: str, message: str, status: int = 200) -> web.Response:
    return r.page(title, Html(f"<p>{esc(message)}</p><p>{r.link('/deliveries', '返回渠道账号 →')}</p>"),
                  status=status)


async def callback(request: web.Request) -> web.Response:
    """GET /weibo/callback/{account_id}?code=…&state=… (authenticated by the one-time state)."""
    app, account_id = request.app, request.match_info["account_id"]
    store = app[STORE]
    state, code = request.query.get("state", ""), request.query.get("code", "")
    key = f"weibo:oauth-state:{state}"
    raw = await store.kv.get(key) if state else None
    record = json.loads(raw) if raw else None
    channel = weibo_channel(app[DISPATCHER].bindings, account_id)
    if record is None or record.get("account") != account_id or channel is None or not code:
        return _page("授权未完成", "授权请求无效或已过期（10 分钟内有效、只能使用一次），"
                     "请回到渠道账号页重新点击“重新授权”。", 400)
    await store.kv.put(key, "", ttl_seconds=1)                       # single use
    base = channel.account.base_url or DEFAULT_BASE_URL
    try:
        expires_at = await exchange_code(channel.ctx, channel.account, base, code, _callback_url(request, account_id))
    except ChannelError as exc:
        log.warning("weibo re-authorisation of %s failed: %s", account_id, exc.detail)
        return _page("授权未完成", exc.reason, 502)
    actor = f"网页用户 {record.get('user')}"
    when = expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    await store.add_alert(f"operator:{record.get('user')}", f"{actor} 重新授权微博账号 {account_id}，"
                              f"新授权到期时间 {when}（北京时间）", app[CLOCK].now())
    message = f"微博账号 {account_id} 已重新授权，新授权到期时间 {when}（北京时间）。"
    states = await store.account_states()
    if states.get(account_id, ("active", None))[0] == "needs_reauth":
        outcome = await app[OPERATIONS].resume(account_id, actor)
        message += outcome.message
    log.info("weibo account %s re-authorised by %s", account_id, record.get("user"))
    return _page("授权完成", message)


def setup_routes(app: web.Application, guard: Callable[[Handler], Handler]) -> None:
    app.router.add_post("/accounts/weibo/{account_id}/authorize", guard(start))
    app.router.add_get("/weibo/callback/{account_id}", callback)
