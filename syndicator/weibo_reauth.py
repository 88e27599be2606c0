"""Weibo re-authorisation on the hub's public URL, and the token-expiry watch.

A person presses 重新授权 on the dashboard (login + CSRF) → the hub redirects to Weibo's ``oauth2/authorize`` with a
one-time ``state`` bound to the account → the person consents as the unit's Weibo account → Weibo redirects to
``<public_url>/weibo/callback/<account id>`` → the hub checks the state, trades the code for a token
(``oauth2/access_token``), stores it (channels/weibo/tokens.py) and, if the account was held for re-authorisation,
resumes it. The callback cannot rely on the dashboard session (its cookie is SameSite=Strict and Weibo's redirect
is cross-site): the unguessable, single-use, 10-minute ``state`` is what authenticates it (RFC 6749 §10.12).

Tokens expire after 1 to 90 days by the app's level: every hour the hub asks ``oauth2/get_token_info`` for each
Weibo account and alerts a person once a day from ``reauth_alert_days`` (default 7) before the end.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from channels.base import ChannelError
from channels.weibo.channel import DEFAULT_BASE_URL, WeiboChannel
from channels.weibo.tokens import authorize_url, exchange_code
from core.clock import SHANGHAI
from syndicator.dashboard import render as r
from syndicator.dashboard.render import Html, esc
from syndicator.dashboard.views import SESSION, redirect, show
from syndicator.operations import Operations
from syndicator.web import HUB

if TYPE_CHECKING:
    from syndicator.app import Hub

log = logging.getLogger(__name__)
STATE_TTL_S = 600.0
WATCH_EVERY_S = 3600.0


def _channel(hub: Hub, account_id: str) -> WeiboChannel | None:
    binding = hub.dispatcher.bindings.get(account_id)
    channel = binding.channel if binding is not None else None
    return channel if isinstance(channel, WeiboChannel) else None


def _callback_url(request: web.Request, account_id: str) -> str:
    base = request.app[HUB].settings.web.public_url.rstrip("/") or str(request.url.origin())
    return f"{base}/weibo/callback/{account_id}"


async def start(request: web.Request) -> web.StreamResponse:
    """POST /accounts/weibo/{account_id}/authorize (behind the dashboard guard)."""
    hub, account_id = request.app[HUB], request.match_info["account_id"]
    channel = _channel(hub, account_id)
    if channel is None:
        return redirect("/deliveries")
    state = secrets.token_urlsafe(32)
    await hub.store.kv.put(f"weibo:oauth-state:{state}", json.dumps({"account": account_id,
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
    hub, account_id = request.app[HUB], request.match_info["account_id"]
    state, code = request.query.get("state", ""), request.query.get("code", "")
    key = f"weibo:oauth-state:{state}"
    raw = await hub.store.kv.get(key) if state else None
    record = json.loads(raw) if raw else None
    channel = _channel(hub, account_id)
    if record is None or record.get("account") != account_id or channel is None or not code:
        return _page("授权未完成", "授权请求无效或已过期（10 分钟内有效、只能使用一次），"
                     "请回到渠道账号页重新点击“重新授权”。", 400)
    await hub.store.kv.put(key, "", ttl_seconds=1)                       # single use
    base = channel.account.base_url or DEFAULT_BASE_URL
    try:
        expires_at = await exchange_code(channel.ctx, channel.account, base, code, _callback_url(request, account_id))
    except ChannelError as exc:
        log.warning("weibo re-authorisation of %s failed: %s", account_id, exc.detail)
        return _page("授权未完成", exc.reason, 502)
    actor = f"网页用户 {record.get('user')}"
    when = expires_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    await hub.store.add_alert(f"operator:{record.get('user')}", f"{actor} 重新授权微博账号 {account_id}，"
                              f"新授权到期时间 {when}（北京时间）", hub.clock.now())
    message = f"微博账号 {account_id} 已重新授权，新授权到期时间 {when}（北京时间）。"
    states = await hub.store.account_states()
    if states.get(account_id, ("active", None))[0] == "needs_reauth":
        outcome = await Operations(hub.settings, hub.store, hub.clock, hub.dispatcher).resume(account_id, actor)
        message += outcome.message
    log.info("weibo account %s re-authorised by %s", account_id, record.get("user"))
    return _page("授权完成", message)


def setup_routes(app: web.Application, guard: Any) -> None:
    app.router.add_post("/accounts/weibo/{account_id}/authorize", guard(start))
    app.router.add_get("/weibo/callback/{account_id}", callback)


# ---------------------------------------------------------------- expiry watch


async def check_expiry(hub: Hub) -> int:
    """Ask Weibo how long each account's token has left; alert (once a day) when it ends within the account's
    ``reauth_alert_days`` or has already ended. Returns how many alerts were raised."""
    raised = 0
    now = hub.clock.now()
    for account_id in list(hub.dispatcher.bindings):
        channel = _channel(hub, account_id)
        if channel is None:
            continue
        try:
            expires_at: datetime | None = await channel.token_expiry()
            problem = None
        except ChannelError as exc:
            expires_at, problem = None, exc.reason
        except Exception as exc:           # a network failure here must not stop the watch
            log.warning("weibo token check of %s failed: %s", account_id, type(exc).__name__)
            continue
        days = channel.options.reauth_alert_days
        if problem is None and expires_at is not None and (expires_at - now).total_seconds() > days * 86_400:
            continue
        marker = f"weibo:expiry-alerted:{account_id}:{now.astimezone(SHANGHAI).date()}"
        if await hub.store.kv.get(marker):
            continue
        await hub.store.kv.put(marker, "1", ttl_seconds=2 * 86_400)
        if problem is not None:
            message = f"微博账号 {account_id} 授权检查失败：{problem}"
        else:
            assert expires_at is not None
            left = max(0.0, (expires_at - now).total_seconds() / 86_400)
            message = (f"微博账号 {account_id} 的授权将于 {expires_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}（北京时间）"
                       f"到期（约 {left:.1f} 天后），请在“投递—渠道账号”中点击“重新授权”")
        await hub.alert(account_id, message)
        raised += 1
    return raised
