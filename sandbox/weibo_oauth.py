"""OAuth2 of the Weibo look-alike (mounted by ``sandbox/weibo.py``): authorize → code → access_token, and
get_token_info; tokens expire by time.

Same paths, parameters and bodies as the Weibo OAuth2 docs (https://open.weibo.com/wiki/Oauth2/authorize,
/Oauth2/access_token, /Oauth2/get_token_info; the flow as public clients use it, e.g. sinaweibopy and
weiboclient4j's TokenInfo):
- ``GET /oauth2/authorize?client_id&redirect_uri&response_type=code[&state]`` shows the consent page; consenting
  redirects to ``redirect_uri?code=…[&state=…]``. The redirect_uri must lie under the app's registered 授权回调页,
  else 21322 redirect_uri_mismatch.
- ``POST /oauth2/access_token`` (client_id, client_secret, grant_type=authorization_code, code, redirect_uri) →
  ``{"access_token", "remind_in", "expires_in", "uid"}``; a code is good once and for 10 minutes here (the docs
  give no lifetime; one use is the OAuth2 rule) → else 21325 invalid_grant; wrong client → 21324 invalid_client.
- ``POST /oauth2/get_token_info`` (access_token) → ``{"uid", "appkey", "scope", "create_at", "expire_in"}``.
- Access tokens live ``token_lifetime_s`` (Weibo: 1 to 90 days by the app's level); afterwards every API call is
  answered 21327 expired_token, which the look-alike enforces by wall time, not by a counter.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

CODE_LIFETIME_S = 600.0


@dataclass
class OAuthApp:
    secret: str
    safe_domain: str
    redirect_prefix: str                 # the registered 授权回调页


@dataclass
class OAuthState:
    apps: dict[str, OAuthApp]
    token_lifetime_s: float | None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)      # token -> uid, appkey, created, lifetime
    uids: int = 6_000_000_001

    def register(self, token: str, app_key: str, lifetime_s: float | None) -> dict[str, Any]:
        self.uids += 1
        self.meta[token] = {"uid": self.uids, "appkey": app_key, "created": time.time(), "lifetime": lifetime_s}
        return self.meta[token]

    def expired(self, token: str) -> bool:
        info = self.meta.get(token)
        return bool(info and info["lifetime"] is not None and time.time() - info["created"] >= info["lifetime"])

    def expire_in(self, token: str) -> int:
        info = self.meta[token]
        if info["lifetime"] is None:
            return 157_679_999                     # "5 years": what get_token_info answers for a long-lived token
        return max(0, int(info["created"] + info["lifetime"] - time.time()))


OAUTH = web.AppKey("weibo_oauth", OAuthState)


def oauth_error(path: str, code: int, error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"request": path, "error_code": code, "error": error,
                              "error_description": description}, status=status)


def _app_for(state: OAuthState, client_id: str, redirect_uri: str) -> OAuthApp | web.Response:
    app = state.apps.get(client_id)
    if app is None:
        return oauth_error("/oauth2/authorize", 21324, "invalid_client", "client_id is invalid")
    if not redirect_uri.startswith(app.redirect_prefix):
        return oauth_error("/oauth2/authorize", 21322, "redirect_uri_mismatch", "redirect_uri is not registered")
    return app


async def authorize(request: web.Request) -> web.Response:
    state = request.app[OAUTH]
    q = request.query if request.method == "GET" else await request.post()
    client_id, redirect_uri = str(q.get("client_id", "")), str(q.get("redirect_uri", ""))
    app = _app_for(state, client_id, redirect_uri)
    if isinstance(app, web.Response):
        return app
    if q.get("response_type", "code") != "code":
        return oauth_error("/oauth2/authorize", 21329, "unsupported_response_type", "response_type must be code")
    if request.method == "GET":
        hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(str(v), quote=True)}">'
                         for k, v in q.items())
        return web.Response(content_type="text/html", text=(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>微博授权（沙箱）</title></head>"
            f"<body><h1>授权应用访问你的微博帐号</h1><p>应用 {escape(client_id)} 将获得发布微博的权限。</p>"
            f"<form method=\"post\" action=\"/oauth2/authorize\">{hidden}<button type=\"submit\">授权</button>"
            "</form></body></html>"))
    code = secrets.token_hex(16)
    state.codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri, "at": time.time()}
    params = {"code": code, **({"state": str(q["state"])} if q.get("state") else {})}
    sep = "&" if "?" in redirect_uri else "?"
    raise web.HTTPFound(f"{redirect_uri}{sep}{urlencode(params)}")


async def access_token(request: web.Request, tokens: dict[str, str]) -> web.Response:
    """Exchange a code; the new token is added to ``tokens`` (token -> the app's safe domain)."""
    state, form = request.app[OAUTH], await request.post()
    path = "/oauth2/access_token"
    app = state.apps.get(str(form.get("client_id", "")))
    if app is None or form.get("client_secret") != app.secret:
        return oauth_error(path, 21324, "invalid_client", "client_id or client_secret is invalid", 401)
    if form.get("grant_type") != "authorization_code":
        return oauth_error(path, 21328, "unsupported_grant_type", "grant_type must be authorization_code")
    grant = state.codes.pop(str(form.get("code", "")), None)
    if (grant is None or grant["client_id"] != form.get("client_id") or grant["redirect_uri"] != form.get(
            "redirect_uri") or time.time() - grant["at"] > CODE_LIFETIME_S):
        return oauth_error(path, 21325, "invalid_grant", "code is invalid, expired or used")
    token = "2.00" + secrets.token_urlsafe(24)
    tokens[token] = app.safe_domain
    info = state.register(token, str(form["client_id"]), state.token_lifetime_s)
    expires = state.expire_in(token)
    return web.json_response({"access_token": token, "remind_in": str(expires), "expires_in": expires,
                              "uid": str(info["uid"])})


async def token_info(request: web.Request, tokens: dict[str, str], revoked: set[str]) -> web.Response:
    state, form = request.app[OAUTH], await request.post()
    token = str(form.get("access_token", ""))
    path = "/oauth2/get_token_info"
    if token not in tokens or token in revoked:
        return oauth_error(path, 21332, "invalid_access_token", "access_token is invalid", 401)
    if state.expired(token):
        return oauth_error(path, 21327, "expired_token", "access_token is expired", 401)
    info = state.meta.get(token) or state.register(token, "", None)
    return web.json_response({"uid": info["uid"], "appkey": info["appkey"], "scope": None,
                              "create_at": int(info["created"]), "expire_in": state.expire_in(token)})
