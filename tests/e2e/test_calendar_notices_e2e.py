"""End to end: the gov.cn look-alike publishes the 2027 holiday notice, the hub reads it from the feed it
watches, proposes a draft and tells the admins; an admin confirms from the WeChat console (or the
dashboard button, or the CLI); the override is written, 2027 deadlines stop being provisional and the
banner changes. A notice that fails its checks is shown with what failed and cannot be confirmed."""

from __future__ import annotations

import argparse
import re
import secrets
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

import main
from core.clock import SHANGHAI, FakeClock
from sandbox import wechat as wechat_box
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.wechat_messages import MESSAGES
from syndicator.app import Hub
from syndicator.calendar import WorkCalendar
from syndicator.calendar_cli import run_calendar
from syndicator.calendar_notices import CalendarNotices
from syndicator.config import DashboardSettings
from syndicator.console import parse
from syndicator.passwords import hash_password
from tests.dashboard_support import PASSWORD, csrf_of, get, login, post
from tests.hub_support import hub_settings, rss_source
from tests.syndicator.test_holiday_notice import fixture
from tests.wechat_support import AES_KEY, wx_encrypted

ADMIN = "oAdminOpenId0000000000000001"
TOKEN = "console-callback-token"
NOTICE_2027 = "2027-test-fixture.txt"


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def notice_html(name: str, edit: tuple[str, str] | None = None) -> tuple[str, str]:
    title, body = fixture(name)
    if edit is not None:
        body = body.replace(*edit)
    return title, "".join(f"<p>{escape(line)}</p>" for line in body.splitlines())


async def start(serve: Any, tmp_path: Path, state: UpstreamState) -> tuple[Any, Any]:
    upstream = await serve(build_upstream(state))
    wechat_app = wechat_box.build_app(appid=DEMO_SECRETS["wechat_appid"], secret=DEMO_SECRETS["wechat_secret"])
    wechat = await serve(wechat_app)
    units = [{"id": "u0", "name": "鄂州市政府办公室", "accounts": [
        {"id": "u0-wechat", "kind": "wechat", "base_url": wechat,
         "credentials": {"appid": DEMO_SECRETS["wechat_appid"], "appsecret": DEMO_SECRETS["wechat_secret"],
                         "token": TOKEN, "encoding_aes_key": AES_KEY}},
        {"id": "u0-site", "kind": "static",
         "options": {"directory": str(tmp_path / "site"), "public_url": "https://u0.example.gov.cn/zzbz/"}}]}]
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units)
    settings.console.admins = [ADMIN]
    settings.dashboard = DashboardSettings(users={"operator": hash_password(PASSWORD, iterations=2000)})
    return settings, wechat_app


def banners(page: str) -> str:
    return " ".join(re.findall(r'<div class="banner" role="alert">(.*?)</div>', page))


def cookie_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))    # the dashboard runs on 127.0.0.1


async def console(http: aiohttp.ClientSession, base: str, text: str, when: float) -> str:
    """An admin's text through the safe-mode callback (the console acts only in safe mode), at ``when``."""
    xml = (f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{ADMIN}]]></FromUserName>"
           f"<CreateTime>{int(when)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{secrets.randbelow(10**9)}</MsgId></xml>")
    params, body = wx_encrypted(TOKEN, AES_KEY, DEMO_SECRETS["wechat_appid"], xml, when, openid=ADMIN)
    async with http.post(f"{base}/wechat/callback/u0-wechat", params=params, data=body) as resp:
        answer = await resp.text()
    outer = xmltodict.parse(answer)["xml"]
    plain = WeChatCrypto(TOKEN, AES_KEY, DEMO_SECRETS["wechat_appid"]).decrypt_message(
        answer, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    return str(xmltodict.parse(plain)["xml"]["Content"])


async def test_notice_published_upstream_is_proposed_and_confirmed_from_the_console(serve, tmp_path) -> None:
    clock = FakeClock(sh("2026-12-31T10:00:00"))
    state = UpstreamState()
    state.publish("国务院关于做好年末有关工作的通知", published_at=sh("2026-12-31T09:00:00"))
    title, body = notice_html(NOTICE_2027)
    state.publish(title, body, published_at=sh("2026-12-31T09:30:00"))
    settings, wechat_app = await start(serve, tmp_path, state)
    async with Hub(settings, clock=clock) as hub, cookie_session() as http:
        base = await serve(hub.web_app())
        hub.notifier.min_interval_s = 0          # no wall-clock pacing of admin pushes in a test
        await hub.watcher.poll(settings.sources[0])
        before = await hub.store.deliveries()
        assert len(before) == 4 and all(d.deadline_provisional for d in before)

        record = (await hub.calendar_notices.records())[2027]
        assert record["status"] == "pending" and record["valid"] and record["published"] == "2026-12-31"
        assert record["url"].endswith(".htm") and 'url = "' in record["draft"]
        await hub.notifier.drain()           # announced to the console admins
        assert any("确认日历 2027" in m["content"] for m in wechat_app[MESSAGES].custom if m["touser"] == ADMIN)
        [warning] = hub.calendar.warnings(clock.now().date())
        assert "已发现《国务院办公厅关于2027年部分节假日安排的通知》" in warning and "草案待管理员确认" in warning

        assert (await login(http, base)).status == 303
        _, page = await get(http, f"{base}/")
        assert "草案待管理员确认" in banners(page) and "确认采用2027年安排" in page and "2027-02-05" in page

        assert "用法：确认日历 年份" in await console(http, base, "确认日历", clock.now().timestamp())
        reply = await console(http, base, "确认日历 2027", clock.now().timestamp())
        assert "2027年节假日安排已确认并载入" in reply and "4 条投递的截止时间已按新安排重算" in reply
        written = hub.calendar.override_path(2027)
        assert written.is_file() and hub.calendar.coverage(2027) == "override"
        after = await hub.store.deliveries()
        assert not any(d.deadline_provisional for d in after)
        assert hub.calendar.warnings(clock.now().date()) == []
        audit = [a["message"] for a in await hub.store.recent_alerts(20) if a["subject"].startswith("operator:")]
        assert any("确认2027年节假日安排" in m and "已写入" in m and str(written) not in m for m in audit)

        _, page = await get(http, f"{base}/")
        assert banners(page) == "" and "已确认" in page and "确认采用2027年安排" not in page
        assert "已由 微信管理员" in await console(http, base, "confirm calendar 2027", clock.now().timestamp())

        state.publish("国务院关于另一项工作的通知", published_at=sh("2026-12-31T11:00:00"))
        clock.set(sh("2026-12-31T11:05:00"))
        await hub.watcher.poll(settings.sources[0])
        newest = max(await hub.store.deliveries(), key=lambda d: d.id or 0)
        assert not newest.deadline_provisional      # new items are due by the confirmed arrangement


async def test_flagged_notice_is_shown_and_cannot_be_confirmed_and_the_button_needs_csrf(serve, tmp_path) -> None:
    clock = FakeClock(sh("2026-12-01T10:00:00"))
    state = UpstreamState()
    title, bad = notice_html(NOTICE_2027, ("2月20日（周六）上班", "2月20日（周日）上班"))
    state.publish(title, bad, published_at=sh("2026-11-20T17:00:00"))
    settings, _wechat = await start(serve, tmp_path, state)
    async with Hub(settings, clock=clock) as hub, cookie_session() as http:
        base = await serve(hub.web_app())
        await hub.watcher.poll(settings.sources[0])
        record = (await hub.calendar_notices.records())[2027]
        assert record["status"] == "invalid" and record["draft"] == ""
        assert any("2月20日 标注为周日，实际是周六" in p for p in record["problems"])
        alerts = [a["message"] for a in await hub.store.recent_alerts(10)]
        assert any("自动校验未通过" in m for m in alerts)
        await login(http, base)
        _, page = await get(http, f"{base}/")
        assert "校验未通过，需人工处理" in page and "确认采用2027年安排" not in page
        status, page = await post(http, f"{base}/actions/calendar-confirm",
                                  {"csrf": csrf_of(page), "year": "2027", "next": "/"})
        assert status == 200 and "自动校验未通过，不能确认" in page
        assert not hub.calendar.override_path(2027).exists()

        title, good = notice_html(NOTICE_2027)      # upstream corrects the notice: a new draft
        state.docs[0].body_html = good
        state.changed_at = datetime.now().astimezone()
        await hub.watcher.poll(settings.sources[0])
        assert (await hub.calendar_notices.records())[2027]["status"] == "pending"
        _, page = await get(http, f"{base}/")
        status, _ = await post(http, f"{base}/actions/calendar-confirm", {"year": "2027"})
        assert status == 403 and not hub.calendar.override_path(2027).exists()      # no CSRF token
        status, page = await post(http, f"{base}/actions/calendar-confirm",
                                  {"csrf": csrf_of(page), "year": "2027", "next": "/"})
        assert status == 200 and "2027年节假日安排已确认并载入" in page
        assert hub.calendar.coverage(2027) == "override"


def test_cli_propose_from_file_and_confirm(tmp_path: Path, capsys) -> None:
    config = tmp_path / "syndicator.toml"
    config.write_text(f'[hub]\ndata_dir = "var"\n[storage]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n', "utf-8")
    notice = tmp_path / "notice.txt"
    notice.write_text("\n".join(fixture(NOTICE_2027)), "utf-8")
    assert main.main(["calendar", "confirm", "2027", "--config", str(config)]) == 1
    assert "没有可确认的草案" in capsys.readouterr().err
    assert main.main(["calendar", "propose", "--from", str(notice), "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert 'holidays = [' in out.out and "calendar confirm 2027" in out.err
    assert main.main(["calendar", "confirm", "2027", "--config", str(config)]) == 0
    assert "2027年节假日安排已确认并载入" in capsys.readouterr().out
    assert (tmp_path / "calendar" / "2027.toml").is_file()

    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(fixture("2026.txt")).replace("2026年", "2028年").replace("（周四）", "（周五）"), "utf-8")
    assert main.main(["calendar", "propose", "--from", str(bad), "--config", str(config)]) == 1
    assert "校验未通过" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["确认日历 2027", "确认日历2027年", "confirm calendar 2027",
                                  "ＣＯＮＦＩＲＭ ｃａｌｅｎｄａｒ　２０２７"])
def test_console_word_for_confirming(text: str) -> None:
    command = parse(text)
    assert command is not None and command.name == "calendar_confirm" and command.arg.startswith("2027")


async def test_the_same_notice_via_another_feed_is_not_news(sqlite_store, clock, tmp_path: Path) -> None:
    alerts: list[str] = []

    async def alert(_subject: str, message: str) -> None:
        alerts.append(message)

    async def reload() -> int:
        return 0

    notices = CalendarNotices(sqlite_store, WorkCalendar(tmp_path), clock, alert, reload, SHANGHAI)
    title, text = fixture(NOTICE_2027)
    first = await notices.observe(title, text, "https://www.gov.cn/zhengce/content/202611/content_1.htm", None, "a")
    again = await notices.observe(title, notice_html(NOTICE_2027)[1], "https://www.hubei.gov.cn/x/t1.shtml", None, "b")
    assert first is not None and again == first and len(alerts) == 1
    assert first["published"] == "2026-11-20"                     # from the date under the signature
    assert await notices.observe(*fixture("2026.txt"), "https://www.gov.cn/y.htm", None, "a") is None   # package year


async def test_cli_propose_from_a_gov_cn_like_page(serve, tmp_path: Path, capsys) -> None:
    state = UpstreamState()
    title, body = notice_html(NOTICE_2027)
    doc = state.publish(title, body, published_at=sh("2026-11-20T17:30:00"))
    upstream = await serve(build_upstream(state))
    config = tmp_path / "syndicator.toml"
    config.write_text(f'[hub]\ndata_dir = "var"\n[storage]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n', "utf-8")
    args = argparse.Namespace(config=str(config), action="propose", source=f"{upstream}{doc.path}", year=None)
    assert await run_calendar(args) == 0
    out = capsys.readouterr().out
    assert f'url = "{upstream}{doc.path}"' in out and 'published = "2026-11-20"' in out     # firstpublishedtime
    assert '{ from = "2027-10-01", to = "2027-10-07", name = "国庆节" }' in out
