"""Dashboard plumbing: the ``guard`` every page goes through (login, CSRF on POST, secret
redaction), login and logout, and the operator actions (retry / skip / pause / resume), which go
through ``Operations`` so they are audited exactly like the CLI's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from syndicator.dashboard import access
from syndicator.dashboard import render as r
from syndicator.dashboard.auth import Auth, Session, client_ip, tokens_match
from syndicator.dashboard.render import Html
from syndicator.operations import Operations
from syndicator.redact import redact
from syndicator.roles import ROLE_LABELS, refusal
from syndicator.web_keys import CLOCK, OPERATIONS, REFUSALS, SETTINGS

log = logging.getLogger(__name__)
AUTH: web.AppKey[Auth] = web.AppKey("dashboard_auth", Auth)
SESSION: web.RequestKey[Session] = web.RequestKey("dashboard_session", Session)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def safe_next(value: Any, default: str = "/") -> str:
    """A local path to go back to (never another site: no scheme, no //host, no backslash)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    return default if any(c in value for c in "\r\n\\") or len(value) > 1000 else value


def guard(handler: Handler) -> Handler:
    """Login required (GET → login page, POST → 403); CSRF token on every POST; a POST the user's role
    may not send → a Chinese 403 (syndicator.roles); secrets redacted."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        auth = request.app[AUTH]
        session = auth.session(request)
        if session is None:
            if request.method not in ("GET", "HEAD"):
                return r.page("需要登录", Html('<p>登录已过期，请<a href="/login">重新登录</a>。</p>'), status=403)
            return redirect("/login?" + urlencode({"next": request.path_qs}))
        if request.method == "POST" and not tokens_match((await request.post()).get("csrf"), session.csrf):
            return r.page("请求被拒绝", Html('<p>安全校验失败（CSRF），请返回页面刷新后重试。</p>'),
                          user=session.user, csrf=session.csrf, status=403)
        request[SESSION] = session
        role = auth.role(session.user)
        access.CURRENT_ROLE.set(role)
        if request.method == "POST" and not access.may(request.path):
            log.info("dashboard: %s (%s) refused %s", session.user, role, request.path)
            return r.page("无权执行此操作", Html(f"<p>{r.esc(refusal(role, access.action_of(request.path)))}"
                                              '</p><p><a href="/">返回总览</a></p>'),
                          user=session.user, csrf=session.csrf, status=403)
        resp = await handler(request)
        if isinstance(resp, web.Response) and resp.text is not None:
            resp.text = redact(resp.text)          # the one redaction every view uses (syndicator.redact)
        return resp

    return wrapped


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **r.SECURITY_HEADERS})


def operations_for(request: web.Request) -> Operations:
    """The running hub's operations: its dispatcher is woken at once, its watcher polls for 立即检查, its holiday
    notices are confirmed."""
    return request.app[OPERATIONS]


def actor(request: web.Request) -> str:
    """How the audit log names a dashboard user."""
    return f"网页用户 {request[SESSION].user}"


def back_with(request: web.Request, form: Any, default: str, ok: bool, message: str) -> web.Response:
    """After a POST action: back to the page it came from (``next``, else ``default``) with its outcome flashed."""
    resp = redirect(safe_next(form.get("next"), default))
    request.app[AUTH].set_flash(resp, ok, message)
    return resp


def show(request: web.Request, title: str, body: Any, status: int = 200, *, live: bool = False) -> web.Response:
    """A page for the logged-in person; ``live``: it updates itself (syndicator.dashboard.live)."""
    s, auth, app = request[SESSION], request.app[AUTH], request.app
    role = ROLE_LABELS.get(auth.role(s.user), "")
    stamp = app[CLOCK].now().astimezone(app[SETTINGS].deadlines.tz).strftime("%H:%M:%S") if live else None
    resp = r.page(title, body, path=request.path, user=f"{s.user}（{role}）", csrf=s.csrf, flash=auth.flash(request),
                  status=status, live=stamp)
    if auth.flash_cookie in request.cookies:
        auth.clear_cookie(resp, auth.flash_cookie)
    return resp


def names(request: web.Request) -> dict[str, str]:
    return {u.id: u.name for u in request.app[SETTINGS].units}


def config_order(request: web.Request) -> Callable[[tuple[str, str]], tuple[int, int, str, str]]:
    """Sort key for (unit, channel kind) rows: the order the config file lists units and their accounts."""
    order: dict[tuple[str, str], tuple[int, int]] = {}
    for ui, unit in enumerate(request.app[SETTINGS].units):
        for ai, account in enumerate(unit.accounts):
            order.setdefault((unit.id, account.kind), (ui, ai))
    return lambda key: (*order.get(key, (10_000, 0)), *key)


def unit_cell(unit_name: str, first: bool = True, href: str | None = None) -> Html:
    """The unit column: written once per group of rows, never wrapped."""
    if not first:
        return Html('<td class="nowrap"></td>')
    return Html(f'<td class="nowrap">{r.link(href, unit_name) if href else r.esc(unit_name)}</td>')


async def action(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    ops = operations_for(request)
    who, what = actor(request), request.match_info["what"]
    reason = str(form.get("reason", "")).strip()[:200]
    did = str(form.get("delivery_id", ""))
    if what in ("retry", "skip") and r.whole_number(did) is None:
        outcome = (False, "投递编号无效")
    elif what == "retry":
        o = await ops.retry(int(did), who)
        outcome = (o.ok, o.message)
    elif what == "skip":
        o = await ops.skip(int(did), reason, who)
        outcome = (o.ok, o.message)
    elif what == "pause" and not reason:
        outcome = (False, "暂停渠道账号必须填写理由（将记入操作记录）")
    elif what == "pause":
        o = await ops.pause(str(form.get("account_id", "")), reason, who)
        outcome = (o.ok, o.message)
    else:
        o = await ops.resume(str(form.get("account_id", "")), who)
        outcome = (o.ok, o.message)
    return back_with(request, form, "/deliveries", *outcome)



# ---------------------------------------------------------------- login and logout


async def login_form(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    back = safe_next(request.query.get("next"))
    if auth.session(request) is not None:
        return redirect(back)
    return _login_page(auth, back)


def _login_page(auth: Auth, back: str, error: str | None = None, status: int = 200) -> web.Response:
    token, cookie = auth.new_login_token()
    resp = r.login_page(token, back, error, status)
    auth.set_cookie(resp, auth.login_cookie, cookie, 3600)
    return resp


async def login(request: web.Request) -> web.Response:
    auth, ip = request.app[AUTH], client_ip(request)
    form = await request.post()
    back = safe_next(form.get("next"))
    user, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:1024]
    wait = auth.limiter.wait_seconds(ip, user)
    if wait:
        log.warning("dashboard: login throttled for %s", ip)
        _count_refusal(request, "throttled")
        return _login_page(auth, back, f"登录失败次数过多，请 {int(wait // 60) + 1} 分钟后再试。", 429)
    if not tokens_match(form.get("csrf"), auth.login_token(request)):
        return _login_page(auth, back, "登录页面已过期，请重新输入。", 403)
    if not await auth.check_password(user, password):
        auth.limiter.failed(ip, user)
        known = user in auth.settings.users          # never log what was typed for an unknown name (a password?)
        log.warning("dashboard: failed login for %s from %s", repr(user) if known else "an unknown user", ip)
        _count_refusal(request, "bad_password")
        return _login_page(auth, back, "用户名或密码错误。", 401)
    auth.limiter.succeeded(ip, user)
    _session, cookie = auth.new_session(user)
    log.info("dashboard: %s logged in from %s", user, ip)
    resp = redirect(back)
    auth.set_cookie(resp, auth.cookie, cookie, auth.settings.session_hours * 3600)
    auth.clear_cookie(resp, auth.login_cookie)
    return resp


def _count_refusal(request: web.Request, reason: str) -> None:
    request.app[REFUSALS].update([("dashboard_login", reason, "")])       # shown in /metrics (syndicator.metrics)


async def logout(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    auth.revoke(request[SESSION])
    resp = redirect("/login")
    auth.clear_cookie(resp, auth.cookie)
    return resp
