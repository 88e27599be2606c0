"""Roles (syndicator.roles): administrator, operator and 检查员 inspector on the dashboard's pages and
POSTs and on the WeChat console's commands, and how the config names them (a bare hash is an admin)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from core.clock import FakeClock
from syndicator.config import ConfigError, ConsoleSettings, DashboardSettings, load_settings
from syndicator.passwords import hash_password
from syndicator.roles import allows
from tests.dashboard_support import PASSWORD, dashboard, get, login, post
from tests.syndicator.test_console import (
    ADMIN,
    Rig,
    ask,
    rig,  # noqa: F401  (a fixture used by roles_rig)
)

HASH = hash_password(PASSWORD, iterations=1000)
USERS = {"chief": HASH, "duty": {"password_hash": HASH, "role": "operator"},
         "audit": {"password_hash": HASH, "role": "inspector"}}
READ_PAGES = ["/", "/deliveries", "/delays", "/delays.csv", "/sources", "/report", "/report.csv", "/report.html",
              "/evidence.zip?month=2026-11&unit=ezfgw"]
ACTION_FORM = re.compile(r'<form[^>]*method="post"[^>]*action="(/actions/[^"]+)"')


def december_clock() -> FakeClock:
    """A fresh clock for each dashboard: Wednesday 2026-12-02 10:00 Beijing time."""
    return FakeClock(datetime(2026, 12, 2, 2, 0, tzinfo=UTC))


# ---------------------------------------------------------------- configuration


def test_a_bare_hash_is_an_admin_and_a_table_names_the_role() -> None:
    s = DashboardSettings(users=USERS)
    assert {u: e.role for u, e in s.users.items()} == {"chief": "admin", "duty": "operator", "audit": "inspector"}
    assert s.users["chief"].password_hash.get_secret_value() == HASH


def test_check_config_names_an_unknown_role(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'[dashboard.users]\nbob = {{ password_hash = "{HASH}", role = "chief" }}\n'
                   '[console]\nadmins = ["oAdmin1"]\nroles = { "oAdmin1" = "boss" }\n', "utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    text = str(err.value)
    assert "dashboard.users.bob.role" in text and "console.roles.oAdmin1" in text
    assert HASH not in text                                   # never echo a hash


def test_a_console_role_must_name_an_admin() -> None:
    with pytest.raises(ValueError, match="not listed in console.admins"):
        ConsoleSettings(admins=["oA"], roles={"oStranger99": "operator"})


def test_the_role_table() -> None:
    assert allows("admin", "calendar_confirm") and not allows("operator", "calendar_confirm")
    assert allows("operator", "retry") and not allows("inspector", "retry") and allows("inspector", "read")
    assert not allows("operator", "some_new_action") and not allows("nobody", "read")


# ---------------------------------------------------------------- dashboard


async def _session(base: str, user: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    resp = await login(http, base, user)
    assert resp.status == 303, user
    return http


async def _csrf(http: aiohttp.ClientSession, base: str) -> str:
    page = (await get(http, f"{base}/deliveries"))[1]
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def test_an_inspector_reads_everything_and_can_press_nothing(tmp_path, serve) -> None:
    async with dashboard(tmp_path, december_clock(), serve, users=USERS) as d:
        http = await _session(d.base, "audit")
        try:
            for path in [*READ_PAGES, f"/delivery/{d.ids['failed']}"]:
                async with http.get(d.base + path, allow_redirects=False) as resp:
                    status, text = resp.status, (await resp.read()).decode("utf-8", "replace")
                assert status == 200, path
                assert not ACTION_FORM.findall(text), (path, ACTION_FORM.findall(text))
            assert "audit（检查员）" in (await get(http, d.base + "/"))[1]
            csrf = await _csrf(http, d.base)
            posts = {"/actions/retry": {"delivery_id": d.ids["failed"]},
                     "/actions/skip": {"delivery_id": d.ids["failed"], "reason": "测试"},
                     "/actions/pause": {"account_id": "ezfgw-weibo", "reason": "测试"},
                     "/actions/resume": {"account_id": "ezczj-weibo"},
                     "/actions/calendar-confirm": {"year": "2027"},
                     "/actions/correct-time": {"item_id": "1", "time": "2026-11-20 09:00", "reason": "测试"}}
            for path, form in posts.items():
                status, text = await post(http, d.base + path, {"csrf": csrf, **form})
                assert status == 403, path
                assert "检查员" in text and "只读" in text, path
            assert (await d.hub.store.get_delivery(d.ids["failed"])).state.value == "failed"
            assert (await d.hub.store.account_states()).get("ezfgw-weibo", ("active",))[0] == "active"
            assert (await d.hub.store.account_states())["ezczj-weibo"][0] == "needs_reauth"
            status, _ = await post(http, d.base + "/logout", {"csrf": csrf})     # logging out is not an action
            assert status == 200 and "/login" in _
        finally:
            await http.close()


async def test_an_operator_acts_on_deliveries_but_not_on_the_calendar_or_times(tmp_path, serve) -> None:
    async with dashboard(tmp_path, december_clock(), serve, users=USERS) as d:
        http = await _session(d.base, "duty")
        try:
            forms = set(ACTION_FORM.findall((await get(http, d.base + "/deliveries"))[1]))
            assert {"/actions/retry", "/actions/skip", "/actions/pause", "/actions/resume"} <= forms
            detail = (await get(http, f"{d.base}/delivery/{d.ids['failed']}"))[1]
            assert "/actions/correct-time" not in detail
            csrf = await _csrf(http, d.base)
            status, text = await post(http, d.base + "/actions/retry",
                                      {"csrf": csrf, "delivery_id": d.ids["failed"], "next": "/deliveries"})
            assert status == 200 and "已重新排队" in text
            assert (await d.hub.store.get_delivery(d.ids["failed"])).state.value == "pending"
            for path, form in (("/actions/calendar-confirm", {"year": "2027"}),
                               ("/actions/correct-time", {"item_id": "1", "time": "2026-11-20 09:00", "reason": "x"})):
                status, text = await post(http, d.base + path, {"csrf": csrf, **form})
                assert status == 403 and "需要管理员权限" in text, path
        finally:
            await http.close()


async def test_an_admin_may_do_everything(tmp_path, serve) -> None:
    async with dashboard(tmp_path, december_clock(), serve, users=USERS) as d:
        http = await _session(d.base, "chief")
        try:
            detail = (await get(http, f"{d.base}/delivery/{d.ids['failed']}"))[1]
            assert "/actions/correct-time" in detail and "chief（管理员）" in detail
            csrf = await _csrf(http, d.base)
            status, text = await post(http, d.base + "/actions/calendar-confirm",
                                      {"csrf": csrf, "year": "2027", "next": "/"})
            assert status == 200 and "权限" not in text            # reached the action (no draft: its own answer)
            status, text = await post(http, d.base + "/actions/pause",
                                      {"csrf": csrf, "account_id": "ezfgw-weibo", "reason": "改版", "next": "/"})
            assert status == 200
            assert (await d.hub.store.account_states())["ezfgw-weibo"][0] == "paused"
        finally:
            await http.close()


# ---------------------------------------------------------------- console

INSPECTOR, OPERATOR = "oAbCdEfGhIjKlMnOpQrStUv_ins1", "oAbCdEfGhIjKlMnOpQrStUv_opr1"


@pytest.fixture
def roles_rig(request: pytest.FixtureRequest) -> Rig:
    base: Rig = request.getfixturevalue("rig")
    base.console.settings = ConsoleSettings(admins=[ADMIN, INSPECTOR, OPERATOR],
                                            roles={INSPECTOR: "inspector", OPERATOR: "operator"})
    return base


async def test_a_console_inspector_reads_but_cannot_act(roles_rig: Rig) -> None:
    rg = roles_rig
    for command in ("状态", "延误", "待办", "帮助", "status"):
        reply = await ask(rg, command, INSPECTOR)
        assert reply and not reply.startswith("未执行"), command
    failed = rg.ids["failed"]
    for command in (f"重试 {failed}", f"跳过 {failed} 已转载", "暂停 wx-fgw 改版", "恢复 wx-fgw", "确认日历 2027",
                    f"retry {failed}"):
        reply = await ask(rg, command, INSPECTOR)
        assert reply and reply.startswith("未执行") and "检查员" in reply, (command, reply)
    assert (await rg.store.get_delivery(failed)).state.value == "failed"
    assert "wx-fgw" not in await rg.store.account_states()
    helped = await ask(rg, "帮助", INSPECTOR) or ""
    assert "状态" in helped and "待办" in helped and "重试 N" not in helped and "确认日历" not in helped
    assert "检查员" in helped


async def test_a_console_operator_acts_but_cannot_confirm_the_calendar(roles_rig: Rig) -> None:
    rg = roles_rig
    reply = await ask(rg, f"重试 {rg.ids['failed']}", OPERATOR)
    assert reply and not reply.startswith("未执行"), reply
    assert (await rg.store.get_delivery(rg.ids["failed"])).state.value == "pending"
    assert "需要管理员权限" in (await ask(rg, "确认日历 2027", OPERATOR) or "")
    assert "权限" not in (await ask(rg, "确认日历 2027", ADMIN) or "")        # an unlisted admin is an admin
    assert "已暂停" in (await ask(rg, "暂停 wx-fgw 改版", OPERATOR) or "")
    helped = await ask(rg, "帮助", OPERATOR) or ""
    assert "重试 N" in helped and "确认日历" not in helped and "确认日历" in (await ask(rg, "帮助", ADMIN) or "")
