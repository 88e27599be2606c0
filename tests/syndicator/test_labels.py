"""One word per state everywhere (issue #11): the same delivery state reads the same on the dashboard, the
WeChat console, the CLI's delay listing and the evidence report — each checked through the real surface —
and delay causes are data, rendered to Chinese in one place, with records from before still readable."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

import main
from core.clock import FakeClock
from core.models import ALL_STATES, ATTENTION_STATES, CauseKind, DelayCause, DelayKind, DelayRecord
from syndicator import console as console_module
from syndicator.app import Hub
from syndicator.config import ConsoleSettings, DashboardSettings
from syndicator.console import Console
from syndicator.dashboard import setup_dashboard
from syndicator.evidence import detail_csv, report_details
from syndicator.labels import STATE_LABELS, cause_text, legacy_causes, reason_text, shown_state_label, state_label
from syndicator.passwords import hash_password
from syndicator.status import collect_status
from syndicator.store import Store
from syndicator.store.schema import migrate
from tests.dashboard_support import PASSWORD, dashboard_settings, get, login
from tests.syndicator.test_dashboard_operator_day import ingest_new, row_of
from tests.syndicator.test_delays import add_item, monitor, send, sh

ADMIN = "oLabelsConsoleAdmin00000001"
CLI_CONFIG = """
[storage]
url = "sqlite:///{db}"
[[sources]]
id = "gwy"
name = "国务院信息"
kind = "rss"
url = "https://www.gov.cn/rss/gwy.xml"
[[units]]
id = "ezfgw"
name = "鄂州市发展和改革委员会"
  [[units.accounts]]
  id = "ezfgw-site"
  kind = "static"
  options = {{ directory = "site", public_url = "https://www.example.gov.cn/ezfgw/" }}
"""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield s


def test_one_word_per_state() -> None:
    assert set(STATE_LABELS) == set(ALL_STATES)
    assert len(set(STATE_LABELS.values())) == len(STATE_LABELS)        # no two states share a word
    assert state_label("retrying") == "等待重试" and state_label("failed") == "发送失败"
    assert state_label("held") == "暂存"
    assert shown_state_label("pending", "needs_reauth") == "暂存（账号不可用）"
    assert shown_state_label("pending", "paused") == "已暂停"
    assert shown_state_label("sending", "paused") == "发送中"        # already left: not kept back
    assert shown_state_label("pending", "active") == shown_state_label("pending") == "待发送"


async def test_every_state_reads_the_same_on_every_surface(tmp_path: Path, clock: FakeClock, serve, http,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_module, "TOP", len(ALL_STATES))         # the console lists them all
    settings = dashboard_settings(tmp_path)
    async with Hub(settings, clock=clock) as hub:
        ids = await ingest_new(hub, 1, "国务院关于统一状态用语的通知")
        assert len(ids) == len(ALL_STATES)
        of_state = dict(zip(ALL_STATES, ids, strict=True))
        account: dict[str, str] = {}
        for state, did in of_state.items():
            await hub.store.db.execute("UPDATE deliveries SET state = ? WHERE id = ?", state, did)
            d = await hub.store.get_delivery(did)
            assert d is not None and d.state == state
            account[state] = d.account_id
            await hub.store.add_delay(DelayRecord(
                delivery_id=did, kind=DelayKind.AT_RISK, recorded_at=clock.now(),
                reason=reason_text("距截止时间仅剩 1 小时，尚未发布", [DelayCause(CauseKind.QUEUED)]),
                causes=(DelayCause(CauseKind.QUEUED),)))

        # the dashboard's deliveries page
        app = hub.web_app()
        setup_dashboard(app, DashboardSettings(users={"operator": hash_password(PASSWORD, iterations=2000)}))
        base = await serve(app)
        await login(http, base)
        status, page = await get(http, f"{base}/deliveries?state=all")
        assert status == 200
        for state, did in of_state.items():
            assert f">{state_label(state)}<" in row_of(page, did), state

        # the WeChat console: 待办 lists what needs attention, 状态 counts the rest
        console = Console(hub.operations,
                          lambda: collect_status(hub.store, hub.settings, hub.calendar, hub.clock),
                          ConsoleSettings(admins=[ADMIN]), hub.clock)
        todo = await console.answer("ezfgw-wechat", ADMIN, "待办") or ""
        for state in ATTENTION_STATES:
            assert f"#{of_state[state]} {account[state]} {state_label(state)} " in todo, state
        said = await console.answer("ezfgw-wechat", ADMIN, "状态") or ""
        for state in ("delivered", "failed", "skipped", "held"):
            assert f"{state_label(state)} 1" in said, state

        # the CLI: `main.py delays --format csv` (当前状态), against the same database
        config = tmp_path / "cli.toml"
        config.write_text(CLI_CONFIG.format(db=tmp_path / "hub.db"), encoding="utf-8")
        capsys.readouterr()
        assert await asyncio.to_thread(main.main, ["delays", "--config", str(config), "--format", "csv"]) == 0
        listed = list(csv.reader(io.StringIO(capsys.readouterr().out.lstrip("\ufeff"))))
        column = listed[0].index("当前状态")
        by_account = {row[2]: row[column] for row in listed[1:] if row}
        for state in ALL_STATES:
            assert by_account[account[state]] == state_label(state), state

        # the monthly evidence report (CSV)
        month = f"{(await hub.store.get_delivery(ids[0])).deadline_at.astimezone(settings.deadlines.tz):%Y-%m}"  # type: ignore[union-attr]
        rows = await report_details(hub.store, month, hub.calendar, settings.deadlines, settings.deadlines_for)
        evidence = list(csv.reader(io.StringIO(detail_csv(rows, settings.deadlines.tz))))
        column = evidence[0].index("状态")
        by_id = {int(row[0]): row[column] for row in evidence[1:] if row}
        for state, did in of_state.items():
            assert by_id[did] == state_label(state), state

        # a waiting delivery of an account that lost its authorisation reads alike on the dashboard and console
        pending = of_state["pending"]
        await hub.store.set_account_state(account["pending"], "needs_reauth", "授权已过期", clock.now())
        _, page = await get(http, f"{base}/deliveries?state=all")
        assert ">暂存（账号不可用）<" in row_of(page, pending)
        todo = await console.answer("ezfgw-wechat", ADMIN, "待办") or ""
        assert f"#{pending} {account['pending']} 暂存（账号不可用） " in todo


def test_causes_render_in_one_place() -> None:
    at = "2025-10-07T02:00:00+00:00"
    every = {
        CauseKind.ACCOUNT_PAUSED: {"reason": "公众号改版"}, CauseKind.PLATFORM_HOLD: {"reason": None},
        CauseKind.NEEDS_REAUTH: {"reason": "21327"}, CauseKind.CHANNEL_ERROR: {"error": "接口限流", "times": 2},
        CauseKind.MANUAL_WAITING: {"note": None}, CauseKind.CONFIRMING: {"note": "审核中"},
        CauseKind.UPDATED: {"at": at}, CauseKind.BASELINE: {"published_at": at},
        CauseKind.DATE_UNREADABLE: {"raw": "十月七日；上午"},
        CauseKind.DATE_IMPLAUSIBLE: {"published_at": at, "gap_hours": 30.0},
        CauseKind.DETECTED_LATE: {"published_at": at, "detected_at": at, "note": "抓取失败；超时"},
        CauseKind.DETECTED_NEAR_DEADLINE: {"hours": 1.5}, CauseKind.FIRST_SEND_LATE: {"backlog": True},
        CauseKind.PLATFORM_NOTE: {"note": "已发布"}, CauseKind.PROVISIONAL: {"years": [2027]},
        CauseKind.VERIFY_NOTE: {"note": "页面 404"}, CauseKind.LEGACY: {"text": "旧记录的原因"},
    }
    texts = {k: cause_text(DelayCause(k, every.get(k, {}))) for k in CauseKind}
    assert all(texts.values()) and len(set(texts.values())) == len(texts)
    assert texts[CauseKind.ACCOUNT_PAUSED] == "人工暂停：公众号改版"
    assert texts[CauseKind.PLATFORM_HOLD] == "账号被平台限制：平台未说明原因"
    assert texts[CauseKind.NEEDS_REAUTH] == "账号授权失效，需重新授权：21327"
    assert texts[CauseKind.CHANNEL_ERROR] == "接口限流（共 2 次）"
    assert texts[CauseKind.UPDATED] == "稿件更新后重发，按检测到更新的时间（2025-10-07 10:00）计"
    assert texts[CauseKind.PROVISIONAL] == "截止时间为临时计算：2027年节假日安排未载入"
    # a quoted fact never carries the separator between causes
    assert "；" not in texts[CauseKind.DATE_UNREADABLE] and "；" not in texts[CauseKind.DETECTED_LATE]
    assert texts[CauseKind.LEGACY] == "旧记录的原因"
    causes = [DelayCause(CauseKind.CHANNEL_ERROR, {"error": "超时", "times": 1}), DelayCause(CauseKind.NO_DATE)]
    assert reason_text("已超时", causes) == "已超时；原因：超时；上游未提供发布时间，按检测时间计"
    assert reason_text("已超时", []) == "已超时；原因：未发现渠道错误、暂停或检测延迟记录，请核查系统运行日志"
    assert reason_text("经人工决定不转载：撤回", [], related=True) == "经人工决定不转载：撤回"
    assert legacy_causes("已超时；原因：甲；乙") == (DelayCause(CauseKind.LEGACY, {"text": "甲；乙"}),)
    assert legacy_causes("已超时；原因：尚未开始发送（排队等待）") == ()


async def test_causes_are_stored_as_data_and_old_rows_still_read(store: Store, clock: FakeClock) -> None:
    a = await add_item(store, 1, sh("2025-10-09 09:00"), sh("2025-10-09 10:00"))
    causes = (DelayCause(CauseKind.CHANNEL_ERROR, {"error": "接口返回 500；稍后重试", "times": 3}),
              DelayCause(CauseKind.PROVISIONAL, {"years": [2025, 2026]}))
    assert await store.add_delay(DelayRecord(a["u1-weibo"], DelayKind.OVERDUE, clock.now(),
                                             reason_text("已超时", causes), causes=causes))
    # a record written before migration 17: no causes stored, only its prose
    old = "已超时；原因：渠道故障；网站维护"
    await store.db.execute(
        "INSERT INTO delay_records (delivery_id, kind, recorded_at, reason, late_clock_hours, late_working_hours)"
        " VALUES (?, ?, ?, ?, ?, ?)", a["u1-site"], "overdue", clock.now(), old, 1.0, 0.0)
    read = {r.delivery_id: r for r in await store.delays()}
    assert read[a["u1-weibo"]].causes == causes
    assert read[a["u1-site"]].causes == (DelayCause(CauseKind.LEGACY, {"text": "渠道故障；网站维护"}),)
    assert read[a["u1-site"]].reason == old
    prior = await store.delay_causes([a["u1-weibo"], a["u1-site"]])
    assert prior[a["u1-weibo"]]["overdue"] == causes
    raw = await store.db.fetchrow("SELECT causes FROM delay_records WHERE delivery_id = ?", a["u1-weibo"])
    assert json.loads(raw["causes"])[0] == {"kind": "channel_error",   # type: ignore[index]
                                            "facts": {"error": "接口返回 500；稍后重试", "times": 3}}
    assert await migrate(store.db) >= 17                                       # idempotent


async def test_a_late_record_inherits_causes_without_reading_prose(sqlite_store: Store, clock: FakeClock,
                                                                   tmp_path: Path) -> None:
    store = sqlite_store
    mon = monitor(store, clock, tmp_path)
    a = await add_item(store, 1, sh("2025-10-09 09:00"), sh("2025-10-09 10:00"), ["u1-weibo", "u1-site"])
    clock.set(sh("2025-10-10 21:00"))
    await send(store, clock, "u1-weibo", "retry", "微博接口返回：参数错误；请稍后再试")   # a "；" inside one fact
    await store.set_account_state("u1-site", "paused", "栏目改版", clock.now())
    await store.hold_account("u1-site", clock.now(), "栏目改版")
    clock.set(sh("2025-10-11 02:00"))
    overdue = {r.delivery_id: r for r in await mon.scan() if r.kind is DelayKind.OVERDUE}
    assert overdue[a["u1-weibo"]].causes[0] == DelayCause(
        CauseKind.CHANNEL_ERROR, {"error": "微博接口返回：参数错误；请稍后再试", "times": 1})
    # the site's overdue record is rewritten as a record from before causes were data
    await store.db.execute("UPDATE delay_records SET causes = NULL WHERE delivery_id = ?", a["u1-site"])
    clock.set(sh("2025-10-11 10:00"))
    await store.set_account_state("u1-site", "active", None, clock.now())
    await store.release_account("u1-site", clock.now())
    for account in ("u1-weibo", "u1-site"):
        await send(store, clock, account, "delivered")
    late = {r.delivery_id: r for r in await mon.scan() if r.kind is DelayKind.DELIVERED_LATE}
    weibo = late[a["u1-weibo"]]
    errors = [c for c in weibo.causes if c.kind is CauseKind.CHANNEL_ERROR]
    assert [c.facts["error"] for c in errors] == ["微博接口返回：参数错误；请稍后再试"]    # whole, once
    site = late[a["u1-site"]]
    assert any(c.kind is CauseKind.LEGACY and "人工暂停：栏目改版" in c.facts["text"] for c in site.causes)
    assert "人工暂停：栏目改版" in site.reason
    mon.close()


def test_delays_no_longer_parses_its_own_prose() -> None:
    source = (Path(__file__).parents[2] / "syndicator" / "delays.py").read_text(encoding="utf-8")
    assert ".split(\"；\")" not in source and ".split('；')" not in source
