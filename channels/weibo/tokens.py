"""Weibo access tokens obtained by OAuth2 re-authorisation, kept in the store (never in the config, never printed).

Protocol (https://open.weibo.com/wiki/Oauth2/authorize, /Oauth2/access_token, /Oauth2/get_token_info; the flow as
sinaweibopy and weiboclient4j use it):
- ``GET /oauth2/authorize?client_id=<app key>&response_type=code&redirect_uri=<callback>&state=<nonce>``: the
  person logs in to Weibo as the unit's account and consents; Weibo redirects to ``<callback>?code=…&state=…``.
- ``POST /oauth2/access_token`` with client_id, client_secret, grant_type=authorization_code, code, redirect_uri
  → ``{"access_token", "expires_in", "remind_in", "uid"}``.
- ``POST /oauth2/get_token_info`` → ``{"uid", "appkey", "scope", "create_at", "expire_in"}``.
The account's config keeps only ``options.app_key`` and ``credentials.app_secret`` (and, before the first
authorisation, optionally an ``access_token``); a token stored here wins over the configured one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

from channels.base import AccountConfig, AuthExpired, ChannelContext, KeyValue, PermanentError
from channels.scrub import scrub

TOKEN_TTL_S = 400 * 86_400          # kept past any Weibo lifetime (90 days at most); expiry is checked by the API


def _token_key(account_id: str) -> str:
    return f"weibo:oauth-token:{account_id}"


def _expiry_key(account_id: str) -> str:
    return f"weibo:token-expiry:{account_id}"


async def current_token(ctx: ChannelContext, account: AccountConfig) -> str:
    """The token to post with: the one re-authorisation stored, else the configured one."""
    raw = await ctx.kv.get(_token_key(account.id))
    if raw:
        return str(json.loads(raw)["access_token"])
    if "access_token" not in account.credentials:
        raise AuthExpired("微博账号尚未授权，请在总览“投递—渠道账号”中点击“重新授权”",
                          f"weibo {account.id}: no stored or configured access token")
    return account.secret("access_token")


async def remember_expiry(ctx: ChannelContext, account_id: str, expire_in: float) -> datetime:
    """Record when the account's token expires (from get_token_info or the exchange), for the dashboard."""
    expires_at = ctx.clock.now() + timedelta(seconds=expire_in)
    await ctx.kv.put(_expiry_key(account_id), expires_at.isoformat(), ttl_seconds=TOKEN_TTL_S)
    return expires_at


async def known_expiry(kv: KeyValue, account_id: str) -> datetime | None:
    """When the account's token expires, as last learned (None: not checked yet)."""
    raw = await kv.get(_expiry_key(account_id))
    return datetime.fromisoformat(raw) if raw else None


def app_key(account: AccountConfig) -> str:
    """The app key is public (it travels in every authorize URL): ``options.app_key``, not a credential."""
    key = str(account.options.get("app_key") or "")
    if not key or "app_secret" not in account.credentials:
        raise PermanentError("微博账号未配置 options.app_key 与 credentials.app_secret，无法重新授权",
                             f"weibo {account.id}: app_key / app_secret missing")
    return key


def authorize_url(account: AccountConfig, base_url: str, redirect_uri: str, state: str) -> str:
    query = urlencode({"client_id": app_key(account), "response_type": "code",
                       "redirect_uri": redirect_uri, "state": state})
    return f"{base_url.rstrip('/')}/oauth2/authorize?{query}"


async def exchange_code(ctx: ChannelContext, account: AccountConfig, base_url: str, code: str,
                        redirect_uri: str) -> datetime:
    """Trade the code for a token, store it, and return when it expires. Never logs or returns the token."""
    secret = account.secret("app_secret")
    form = {"client_id": app_key(account), "client_secret": secret, "grant_type": "authorization_code",
            "code": code, "redirect_uri": redirect_uri}
    async with ctx.session.post(f"{base_url.rstrip('/')}/oauth2/access_token", data=form,
                                timeout=aiohttp.ClientTimeout(total=30)) as resp:
        text = await resp.text()
        status = resp.status
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = None
    if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error_code") if isinstance(body, dict) else None
        raise PermanentError(f"微博拒绝换取授权（{error or 'HTTP ' + str(status)}），请重新点击“重新授权”",
                             scrub(f"weibo oauth2/access_token: HTTP {status} {text[:200]}", secret, code))
    token, expires_in = str(body["access_token"]), float(body.get("expires_in") or 0)
    await ctx.kv.put(_token_key(account.id), json.dumps({"access_token": token, "uid": str(body.get("uid", ""))}),
                     ttl_seconds=TOKEN_TTL_S)
    return await remember_expiry(ctx, account.id, expires_in)
