"""A local look-alike of the Weibo open API: statuses/share, statuses/show and account/rate_limit_status.

Same path, form fields, checks and error bodies as https://open.weibo.com/wiki/2/statuses/share and
https://open.weibo.com/wiki/Error_code: ``{"request": ..., "error_code": N, "error": ...}``.
Tokens are issued by configuration (token -> the app's safe domain) and can be revoked at run time with
``POST /_sandbox/revoke {"token": ...}``; ``Faults.token_expiry_after`` kills a token after that many calls.

Its own rules, each from the Error_code table (https://open.weibo.com/wiki/Error_code), independent of the channel:
- 20019 提交相同的信息: the exact text this user already posted. 20017 提交相似的信息: a text that differs only in its
  links, spaces or punctuation (the same words with another URL is the common case).
- 21321 未审核的应用使用人数超过限制: ``unaudited_user_limit`` makes the app unaudited; users (tokens, in the order they
  are configured) beyond the limit are refused.
- 20015 账号、IP或应用非法，暂时无法完成此操作: a token or ``rip`` listed by ``POST /_sandbox/ban {"token"|"rip"}``.
- 20014 安全检查参数有误，请再调用一次: the table names no trigger, so only fault injection produces it.
- Length: 140, counting a full-width character as 1 and two half-width as 1 (rounded up); a link counts at its full
  length (stricter than Weibo, which shortens links to t.cn first).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from sandbox.common import FAULTS, RECORDER, Faults, add_sandbox_routes
from sandbox.weibo_oauth import OAUTH, OAuthApp, OAuthState, access_token, authorize, token_info

SHARE = "/2/statuses/share.json"
# https://open.weibo.com/wiki/2/statuses/show — GET, access_token + id (int64); answers the status object, with
# ``visible.type`` 0 普通微博, 1 私密微博, 3 指定分组微博, 4 密友微博 (the page's 返回字段说明). A status that is gone
# answers 20101 "Target weibo does not exist" (Error_code table).
SHOW = "/2/statuses/show.json"
RATE_STATUS = "/2/account/rate_limit_status.json"
DEFAULT_TOKENS = {"sandbox-weibo-token": "example.gov.cn"}

# error_code -> (HTTP status, "error" text as the Error_code table gives it)
ERRORS: dict[int, tuple[int, str]] = {
    10001: (500, "System error"),
    10002: (503, "Service unavailable"),
    10003: (502, "Remote service error"),
    10004: (403, "IP limit"),
    10008: (400, "Param error, see doc for more info"),
    10009: (503, "Too many pending tasks, system is busy"),
    10014: (403, "Insufficient app permissions"),
    10016: (400, "Miss required parameter (%s) , see doc for more info"),
    10017: (400, "Parameter (%s)'s value invalid, expect (%s) , but get (%s) , see doc for more info"),
    10022: (403, "IP requests out of rate limit"),
    10023: (403, "User requests out of rate limit"),
    10024: (403, "User requests for (%s) out of rate limit"),
    20014: (400, "Param is error, please try again"),
    20015: (403, "Account or ip or app is illgal, can not continue"),
    20005: (400, "Unsupported image type, only suport JPG, GIF, PNG"),
    20006: (400, "Image size too large"),
    20012: (400, "Text too long, please input text less than 140 characters"),
    20016: (400, "Out of limit"),
    20017: (400, "Repeat content"),
    20018: (400, "Contain illegal website"),
    20019: (400, "Repeat conetnt"),
    20021: (400, "Content is illegal"),
    20031: (400, "Test and verify"),
    20032: (200, "Update success, while server slow now, please wait 1-2 minutes"),
    20101: (400, "Target weibo does not exist"),
    20111: (400, "Repeated weibo text"),
    21314: (401, "Token used"),
    21315: (401, "Token expired"),
    21316: (401, "Token revoked"),
    21317: (401, "Token rejected"),
    21319: (401, "Accessor was revoked"),
    21327: (401, "expired_token"),
    21321: (403, "Applications over the unaudited use restrictions"),
    21332: (401, "invalid_access_token"),
}
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
_URL = re.compile(r"https?://[^\s\u3000-\u303f\uff00-\uffef\u4e00-\u9fff]+")
_TOPIC = re.compile(r"#[^#\s]+#")
_NOT_WORDS = re.compile(r"[\W_]+")


def similar_form(text: str) -> str:
    """The text without links, spaces and punctuation: two posts alike in this are "相似" (20017)."""
    return _NOT_WORDS.sub("", _URL.sub("", text))


@dataclass
class WeiboState:
    tokens: dict[str, str]
    hourly_limit: int
    max_chars: int
    reset_in: int | None
    unaudited_user_limit: int | None = None
    banned: set[str] = field(default_factory=set)          # tokens and rips answered 20015
    revoked: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sent: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    texts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    posts: list[dict[str, Any]] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)          # ids removed (by the author or the platform)
    hidden: set[str] = field(default_factory=set)           # ids made private (visible.type 1)
    ids: itertools.count = field(default_factory=lambda: itertools.count(5_000_000_000_000_001))


STATE = web.AppKey("weibo_state", WeiboState)


def weibo_length(text: str) -> int:
    """Half-width characters count a half (rounded up), as the Weibo composer counts."""
    return (sum(1 if ord(ch) < 0x80 else 2 for ch in text) + 1) // 2


def error(code: int, detail: str = "") -> web.Response:
    status, text = ERRORS.get(code, (400, "error"))
    if "%s" in text and detail:
        text = text.replace("(%s)", f"({detail})", 1)
    return web.json_response({"request": SHARE, "error_code": code, "error": text}, status=status)


def _token_error(state: WeiboState, token: str, faults: Faults, oauth: OAuthState) -> int | None:
    if not token or token not in state.tokens:
        return 21332
    if token in state.revoked:
        return 21319
    if oauth.expired(token):
        return 21327
    if state.unaudited_user_limit is not None and list(state.tokens).index(token) >= state.unaudited_user_limit:
        return 21321
    state.calls[token] += 1
    if faults.token_expiry_after is not None and state.calls[token] > faults.token_expiry_after:
        return 21327
    return None


def _over_limit(state: WeiboState, token: str) -> bool:
    window = state.sent[token]
    now = time.monotonic()
    while window and now - window[0] >= 3600:
        window.popleft()
    return len(window) >= state.hourly_limit


async def share(request: web.Request) -> web.Response:
    app, state = request.app, request.app[STATE]
    injector = app[FAULTS]
    if injector.in_outage():
        return web.Response(status=503, text="<html><body>503 Service Temporarily Unavailable</body></html>")
    await injector.delay()
    form = await request.post()
    fields = {k: v for k, v in form.items() if k != "pic"}
    pic = form.get("pic")
    pic_bytes = pic.file.read() if hasattr(pic, "file") else None
    entry = app[RECORDER].record(request, {**fields, **({"pic": {"filename": getattr(pic, "filename", ""),
                                                                 "size": len(pic_bytes)}} if pic_bytes else {})})
    posted = len(state.posts)
    response = _share(state, injector.faults, injector.next_code(), fields, pic_bytes, app[OAUTH])
    entry["response_status"] = response.status
    if len(state.posts) > posted and await injector.reply_lost(request):
        entry["reply_lost"] = True
    return response


def _share(state: WeiboState, faults: Faults, injected: int | None, fields: dict[str, Any],
           pic: bytes | None, oauth: OAuthState) -> web.Response:
    if injected:                               # a scripted 0 means "answer normally"
        return error(injected, "status")
    token = str(fields.get("access_token") or "")
    if (code := _token_error(state, token, faults, oauth)) is not None:
        return error(code)
    for name in ("status", "rip"):            # rip is "true" (required) on the current statuses/share page
        if not str(fields.get(name) or "").strip():
            return error(10016, name)
    if token in state.banned or str(fields["rip"]) in state.banned:
        return error(20015)
    status = str(fields["status"])
    if weibo_length(status) > state.max_chars:
        return error(20012)
    if _TOPIC.search(status):
        return error(10017, "status")
    domain = state.tokens[token]
    hosts = [(urlsplit(u).hostname or "").lower() for u in _URL.findall(status)]
    if not any(h == domain or h.endswith("." + domain) for h in hosts):
        return web.json_response({"request": SHARE, "error_code": 10017, "error": "appkey not bind domain!"},
                                 status=400)
    if pic is not None:
        if len(pic) >= 5 * 1024 * 1024:
            return error(20006)
        if not pic.startswith(_MAGIC):
            return error(20005)
    if status in state.texts[token]:
        return error(20019)
    if similar_form(status) in {similar_form(t) for t in state.texts[token]}:
        return error(20017)
    if _over_limit(state, token):
        return error(20016)
    state.sent[token].append(time.monotonic())
    state.texts[token].add(status)
    status_id = next(state.ids)
    uid = int(hashlib.sha256(token.encode()).hexdigest()[:8], 16)
    post = {
        "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "id": status_id, "idstr": str(status_id), "mid": str(status_id), "text": status,
        "source": "<a href=\"https://open.weibo.com\" rel=\"nofollow\">sandbox</a>",
        "favorited": False, "truncated": False, "pic_ids": ["sandboxpic"] if pic else [],
        "user": {"id": uid, "idstr": str(uid), "screen_name": f"sandbox_{uid % 1000}"},
    }
    state.posts.append(post)
    return web.json_response(post)


async def rate_limit_status(request: web.Request) -> web.Response:
    state = request.app[STATE]
    request.app[RECORDER].record(request, None)       # the Authorization header is redacted by the recorder
    header = request.headers.get("Authorization", "")
    token = header[len("OAuth2 "):] if header.startswith("OAuth2 ") else request.query.get("access_token", "")
    if token not in state.tokens or token in state.revoked or request.app[OAUTH].expired(token):
        return web.json_response({"request": RATE_STATUS, "error_code": 21332, "error": "invalid_access_token"},
                                 status=401)
    used = len(state.sent[token])
    now = datetime.now(UTC)
    reset = state.reset_in if state.reset_in is not None else 3600 - now.minute * 60 - now.second
    return web.json_response({
        "ip_limit": 10000, "limit_time_unit": "HOURS", "remaining_ip_hits": 10000,
        "remaining_user_hits": max(0, state.hourly_limit - used), "user_limit": state.hourly_limit,
        "reset_time": now.strftime("%Y-%m-%d %H:00:00"), "reset_time_in_seconds": reset,
    })


async def show(request: web.Request) -> web.Response:
    """statuses/show: the token in the query (as documented) or the "Authorization: OAuth2" header."""
    app, state = request.app, request.app[STATE]
    injector = app[FAULTS]
    if injector.in_outage():
        return web.Response(status=503, text="<html><body>503 Service Temporarily Unavailable</body></html>")
    await injector.delay()
    app[RECORDER].record(request, None)
    header = request.headers.get("Authorization", "")
    token = header[len("OAuth2 "):] if header.startswith("OAuth2 ") else request.query.get("access_token", "")
    if (code := _token_error(state, token, injector.faults, app[OAUTH])) is not None:
        return _error_at(SHOW, code)
    wanted = request.query.get("id", "")
    if not wanted.isdigit():
        return _error_at(SHOW, 10016 if not wanted else 10017, "id")
    post = next((p for p in state.posts if p["idstr"] == wanted), None)
    if post is None or wanted in state.deleted:
        return _error_at(SHOW, 20101)
    return web.json_response({**post, "visible": {"type": 1 if wanted in state.hidden else 0, "list_id": 0}})


def _error_at(path: str, code: int, detail: str = "") -> web.Response:
    response = error(code, detail)
    body = json.loads(response.text or "{}")
    return web.json_response({**body, "request": path}, status=response.status)


async def delete(request: web.Request) -> web.Response:
    """Take a post down as the author or the platform would (``hide``: make it private instead)."""
    body = await request.json()
    target = request.app[STATE].hidden if body.get("hide") else request.app[STATE].deleted
    target.add(str(body.get("id", "")))
    return web.json_response({"ok": True})


async def revoke(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[STATE].revoked.add(str(body.get("token", "")))
    return web.json_response({"ok": True})


async def ban(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[STATE].banned.update(str(v) for k, v in body.items() if k in ("token", "rip"))
    return web.json_response({"ok": True})


async def posts(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].posts)


def build_app(faults: Faults | None = None, *, tokens: dict[str, str] | None = None, hourly_limit: int = 30,
              max_chars: int = 140, reset_in: int | None = None, unaudited_user_limit: int | None = None,
              oauth_apps: dict[str, dict[str, str]] | None = None,
              token_lifetime_s: float | None = None) -> web.Application:
    """The Weibo look-alike. ``tokens`` maps each issued access token to its app's safe domain.

    ``oauth_apps``: app key -> {"secret", "safe_domain", "redirect_prefix"} for the OAuth2 endpoints
    (sandbox/weibo_oauth.py); ``token_lifetime_s``: how long every token lives (None: no expiry), counted from now
    for the configured ``tokens`` and from issue for the ones OAuth hands out.
    """
    app = web.Application(client_max_size=8 * 1024 * 1024)   # pictures up to (and just over) 5 MB
    add_sandbox_routes(app, faults)
    app[STATE] = WeiboState(dict(tokens if tokens is not None else DEFAULT_TOKENS), hourly_limit, max_chars,
                            reset_in, unaudited_user_limit)
    app[OAUTH] = OAuthState({k: OAuthApp(**v) for k, v in (oauth_apps or {}).items()}, token_lifetime_s)
    for token in app[STATE].tokens:
        app[OAUTH].register(token, "", token_lifetime_s)
    state = app[STATE]
    app.router.add_route("*", "/oauth2/authorize", authorize)
    app.router.add_post("/oauth2/access_token", functools.partial(access_token, tokens=state.tokens))
    app.router.add_post("/oauth2/get_token_info", functools.partial(token_info, tokens=state.tokens,
                                                                    revoked=state.revoked))
    app.router.add_post(SHARE, share)
    app.router.add_get(RATE_STATUS, rate_limit_status)
    app.router.add_get(SHOW, show)
    app.router.add_post("/_sandbox/delete", delete)
    app.router.add_post("/_sandbox/revoke", revoke)
    app.router.add_post("/_sandbox/ban", ban)
    app.router.add_get("/_sandbox/posts", posts)
    return app
