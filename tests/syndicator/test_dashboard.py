"""Operator dashboard: login, sessions, CSRF, rate limit, actions (audited), CSV export, escaping,
and that no credential ever reaches a page. The hub is seeded with realistic data (tests/dashboard_support.py)."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from core.clock import FakeClock
from syndicator.config import DashboardSettings
from syndicator.dashboard.auth import cmd_hash_password
from syndicator.passwords import hash_password, verify_password
from tests.dashboard_support import (
    PASSWORD,
    SECRET,
    csrf_of,
    dashboard,
    get,
    login,
    page_csrf,
    post,
    status_with_cookie,
)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield s


PAGES = ["/", "/deliveries", "/deliveries?state=all", "/delays?since=2026-01-01", "/sources", "/report?month=2026-11",
         "/delays.csv?since=2026-01-01", "/report.csv?month=2026-11"]


async def test_login_required_for_every_page(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        for path in PAGES:
            async with http.get(d.base + path, allow_redirects=False) as resp:
                assert resp.status == 303, path
                assert resp.headers["Location"].startswith("/login?next=")
        status, _ = await post(http, f"{d.base}/actions/retry", {"delivery_id": d.ids["failed"]})
        assert status == 403
        assert (await d.hub.store.get_delivery(d.ids["failed"])).state.value == "failed"
        assert (await get(http, f"{d.base}/healthz"))[0] == 200          # the API routes are untouched


async def test_login_logout_and_cookie_flags(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        resp = await login(http, d.base, next_="/sources")
        assert resp.status == 303 and resp.headers["Location"] == "/sources"
        cookie = resp.cookies["syn_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
        status, page = await get(http, f"{d.base}/sources")
        assert status == 200 and "湖北省政府文件" in page and "连续 7 次" in page and "待对照真实网站核对" in page
        assert "key=k" not in page                          # query strings of source URLs are not shown
        stolen = cookie.value
        status, page = await post(http, f"{d.base}/logout", {"csrf": csrf_of(page)})
        assert status == 200 and "运维人员登录" in page
        assert (await get(http, f"{d.base}/"))[0] == 303
        assert await status_with_cookie(f"{d.base}/", stolen) == 303      # a copied cookie dies with the logout
        fresh = (await login(http, d.base)).cookies["syn_session"].value
        assert await status_with_cookie(f"{d.base}/", fresh) == 200
        tampered = fresh[:-4] + ("AAAA" if fresh[-4:] != "AAAA" else "BBBB")
        assert await status_with_cookie(f"{d.base}/", tampered) == 303
        forged_user = fresh.replace(fresh.split(".")[0], fresh.split(".")[0][:-2] + "xx")
        assert await status_with_cookie(f"{d.base}/", forged_user) == 303
        http.cookie_jar.clear()
        evil = await login(http, d.base, next_="//evil.example/x")
        assert evil.status == 303 and evil.headers["Location"] == "/"   # no open redirect


async def test_secure_cookies_use_host_prefix(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve, secure_cookies=True) as d:
        async with http.get(f"{d.base}/login") as resp:
            token = csrf_of(await resp.text())
            login_cookie = resp.cookies["__Host-syn_login"]
        assert login_cookie["secure"] and login_cookie["path"] == "/"
        http.cookie_jar.update_cookies({"__Host-syn_login": login_cookie.value})   # jar drops Secure on http
        async with http.post(f"{d.base}/login", data={"username": "operator", "password": PASSWORD, "csrf": token},
                             allow_redirects=False) as resp:
            assert resp.status == 303
            cookie = resp.cookies["__Host-syn_session"]
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"


async def test_wrong_password_and_unknown_user_rejected(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        for user, password in (("operator", "wrong password"), ("nobody", PASSWORD), ("operator", "")):
            resp = await login(http, d.base, user, password)
            assert resp.status == 401 and "syn_session" not in resp.cookies
        assert (await get(http, f"{d.base}/"))[0] == 303


async def test_login_rate_limit_per_address(tmp_path, clock, serve, http, monkeypatch) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        now = [1000.0]
        monkeypatch.setattr(d.auth.limiter, "now", lambda: now[0])
        for _ in range(5):
            assert (await login(http, d.base, password="guess")).status == 401
        blocked = await login(http, d.base)                  # even the right password waits now
        assert blocked.status == 429 and "syn_session" not in blocked.cookies
        async with http.get(f"{d.base}/login") as r:
            await r.read()
        now[0] += 301
        assert (await login(http, d.base)).status == 303


async def test_csrf_missing_or_invalid_is_refused(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        await login(http, d.base)
        failed = d.ids["failed"]
        for data in ({"delivery_id": failed}, {"delivery_id": failed, "csrf": "forged"},
                     {"delivery_id": failed, "csrf": ""}):
            status, page = await post(http, f"{d.base}/actions/retry", data)
            assert status == 403 and "CSRF" in page
        assert (await post(http, f"{d.base}/actions/pause", {"account_id": "ezjyj-weibo", "reason": "x"}))[0] == 403
        assert (await post(http, f"{d.base}/logout", {}))[0] == 403
        assert (await d.hub.store.get_delivery(failed)).state.value == "failed"
        assert (await d.hub.store.account_states()).get("ezjyj-weibo") is None
        assert not [a for a in await d.hub.store.recent_alerts(50) if a["subject"].startswith("operator:")]
        async with http.post(f"{d.base}/login", data={"username": "operator", "password": PASSWORD, "csrf": "x"},
                             allow_redirects=False) as resp:
            assert resp.status == 403                        # the login form is protected too


async def test_actions_work_and_are_audited(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        await login(http, d.base)
        store, token = d.hub.store, await page_csrf(http, d.base)
        status, page = await post(http, f"{d.base}/actions/retry",
                                  {"delivery_id": d.ids["failed"], "csrf": token, "next": "/deliveries?state=all"})
        assert status == 200 and f"投递 #{d.ids['failed']} 已重新排队" in page
        assert (await store.get_delivery(d.ids["failed"])).state.value == "pending"
        # skip needs a reason
        status, page = await post(http, f"{d.base}/actions/skip",
                                  {"delivery_id": d.ids["retrying"], "csrf": token, "reason": "  "})
        assert "跳过必须填写理由" in page
        assert (await store.get_delivery(d.ids["retrying"])).state.value == "retrying"
        reason = "该文已由市政府门户统一转载"
        status, page = await post(http, f"{d.base}/actions/skip",
                                  {"delivery_id": d.ids["retrying"], "csrf": token, "reason": reason})
        assert "已跳过：该文已由市政府门户统一转载" in page
        skipped = await store.get_delivery(d.ids["retrying"])
        assert skipped.state.value == "skipped" and "网页用户 operator" in (skipped.note or "")
        # pause needs a reason too; then resume
        _s, page = await post(http, f"{d.base}/actions/pause", {"account_id": "ezjyj-weibo", "csrf": token})
        assert "暂停渠道账号必须填写理由" in page
        _s, page = await post(http, f"{d.base}/actions/pause",
                              {"account_id": "ezjyj-weibo", "csrf": token, "reason": "账号年审"})
        assert "渠道账号 ezjyj-weibo 已暂停" in page
        assert (await store.account_states())["ezjyj-weibo"][0] == "paused"
        assert "暂停原因" not in page and "账号年审" in page
        _s, page = await post(http, f"{d.base}/actions/resume", {"account_id": "ezjyj-weibo", "csrf": token})
        assert "渠道账号 ezjyj-weibo 已恢复" in page
        _s, page = await post(http, f"{d.base}/actions/resume", {"account_id": "no-such", "csrf": token})
        assert "没有启用的渠道账号 no-such" in page
        audit = [a for a in await store.recent_alerts(50) if a["subject"] == "operator:网页用户 operator"]
        messages = " | ".join(a["message"] for a in audit)
        assert f"将投递 #{d.ids['failed']} 重新排队" in messages
        assert f"跳过投递 #{d.ids['retrying']}：该文已由市政府门户统一转载" in messages
        assert "暂停渠道账号 ezjyj-weibo：账号年审" in messages and "恢复渠道账号 ezjyj-weibo" in messages
        flash_page = (await get(http, f"{d.base}/deliveries"))[1]
        assert "已恢复" not in flash_page                    # a flash message is shown once


async def test_csv_exports_have_bom_and_chinese_headers(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        await login(http, d.base)
        async with http.get(f"{d.base}/delays.csv?since=2026-10-01&until=2026-11-30") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
            assert "attachment" in resp.headers["Content-Disposition"]
            raw = await resp.read()
        assert raw.startswith(b"\xef\xbb\xbf")
        text = raw.decode("utf-8-sig")
        assert text.splitlines()[0].startswith("单位,渠道,账号,稿件,类型,截止时间")
        assert "鄂州市教育局" in text and "超时发布" in text
        assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
        async with http.get(f"{d.base}/delays.csv?unit=ezczj") as resp:
            only = (await resp.read()).decode("utf-8-sig")
        assert "鄂州市财政局" in only and "鄂州市教育局" not in only
        async with http.get(f"{d.base}/report.csv?month=2026-11") as resp:
            raw = await resp.read()
        assert raw.startswith(b"\xef\xbb\xbf") and "2026年11月转载时效月报" in raw.decode("utf-8-sig")
        status, page = await get(http, f"{d.base}/report?month=2026-13")
        assert status == 200 and "月份应为 YYYY-MM 格式" in page


async def test_no_credential_appears_on_any_page(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        secrets = [SECRET, "WX-APPSECRET-QQ88", "wxtok-ABC123", "JPUSH-MASTER-77x", "wb-token-EZCZJ-6666",
                   PASSWORD, "pbkdf2_sha256"]
        login_page = (await get(http, f"{d.base}/login"))[1]
        await login(http, d.base)
        seen = [login_page]
        for path in [*PAGES, "/deliveries?account=ezfgw-weibo&state=all", "/deliveries?unit=ezfgw"]:
            status, body = await get(http, d.base + path)
            assert status == 200, path
            seen.append(body)
        everything = "\n".join(seen)
        assert "链接不在安全域名内" in everything           # the error with the token in it is shown…
        for secret in secrets:
            assert secret not in everything, secret         # …but the token itself is redacted


async def test_hostile_titles_are_escaped(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        await login(http, d.base)
        for path in ("/", "/deliveries?state=all&q=测试转义", "/delays?since=2026-01-01"):
            async with http.get(d.base + path) as resp:
                body = await resp.text()
                csp = resp.headers["Content-Security-Policy"]
                assert "script-src 'self';" in csp and "unsafe" not in csp   # only the dashboard's own file
                assert "default-src 'none'" in csp
                assert resp.headers["X-Frame-Options"] == "DENY"
            assert "<script>" not in body, path
            # the one script tag is the live pages' file, never inline code
            live = ['<script src="/static/live.js" defer>'] if path != "/delays?since=2026-01-01" else []
            assert re.findall(r"<script[^>]*>", body) == live, path
            if path != "/":
                assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;国务院办公厅关于测试转义的通知" in body


async def test_overview_shows_due_late_calendar_and_chart(tmp_path, serve, http) -> None:
    december = FakeClock(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))     # 2027 not yet covered: banner
    async with dashboard(tmp_path, december, serve) as d:
        await login(http, d.base)
        status, page = await get(http, f"{d.base}/")
    assert status == 200
    assert "2027年节假日安排尚未载入" in page
    assert "各单位各渠道待办" in page and "鄂州市财政局" in page and "需重新授权" in page
    assert "<svg" in page and "超时时长分布" in page and "近30天超时发布" in page
    assert "最早到期的未完成投递" in page and "已超时" in page
    assert "微博授权已过期" in page                               # alert list


def test_password_hashes_and_settings() -> None:
    encoded = hash_password("s3cret-passw0rd", iterations=1000)
    assert encoded.startswith("pbkdf2_sha256$1000$") and encoded.count("$") == 3
    assert verify_password("s3cret-passw0rd", encoded) and not verify_password("other", encoded)
    assert not verify_password("x", "garbage")
    with pytest.raises(ValueError) as err:
        DashboardSettings(users={"ops": "plaintext-password-here"})
    assert "plaintext-password-here" not in str(err.value) and "hash-password" in str(err.value)
    with pytest.raises(ValueError):
        DashboardSettings(unknown=1)
    s = DashboardSettings(users={"ops": encoded})
    assert s.enabled and s.session_hours == 12 and not s.secure_cookies and encoded not in repr(s)


async def test_hash_password_command(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert await cmd_hash_password(type("Args", (), {"iterations": 1000})()) == 0
    printed = capsys.readouterr().out.strip()
    assert verify_password("a long enough password", printed)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert await cmd_hash_password(type("Args", (), {"iterations": 1000})()) == 2


async def test_unknown_pages_and_faults_answer_in_chinese(tmp_path, clock, serve) -> None:
    from syndicator.dashboard.errors import chinese_errors

    async with dashboard(tmp_path, clock, serve) as d, aiohttp.ClientSession() as http:
        await login(http, d.base)
        status, text = await get(http, f"{d.base}/no-such-page")
        assert status == 404 and "页面不存在" in text and "Not Found" not in text

        async def broken(request):
            raise RuntimeError("boom /srv/secret/path")

        class Req:          # a fault inside any page handler goes through the same middleware
            path, method = "/sources", "GET"

        response = await chinese_errors(Req(), broken)
        assert response.status == 500 and "系统出错" in response.text and "boom" not in response.text
        status, text = await get(http, f"{d.base}/api/none")
        assert status == 404 and "页面不存在" not in text          # machine paths keep their own answers


def test_intervals_read_as_people_say_them() -> None:
    from syndicator.dashboard.render import every

    assert every(5) == "每 5 秒" and every(300) == "每 5 分钟" and every(90) == "每 1.5 分钟"
    assert every(3600) == "每 1 小时" and every(86400) == "每 1 天"
