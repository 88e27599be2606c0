"""Delay monitor: each kind recorded once, reasons that name the real cause, the JSON-lines log,
provisional deadlines recomputed after a calendar reload. Runs on SQLite and PostgreSQL (conftest)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import SHANGHAI, FakeClock
from core.models import DelayKind, Item
from syndicator.calendar import WorkCalendar
from syndicator.deadlines import DeadlineSettings, choose_anchor, compute_deadline
from syndicator.delays import DelayMonitor, build_reason, local_text
from syndicator.recompute import Recomputed, recompute_deadlines
from syndicator.store import PlannedDelivery, Store
from syndicator.store.reports import DeliveryFacts
from tests.e2e.test_calendar_reload import OVERRIDE_2027
from tests.fakes import AlertLog

CAL = WorkCalendar()
SETTINGS = DeadlineSettings()
ACCOUNTS = {"u1-weibo": ("u1", "weibo"), "u1-wechat": ("u1", "wechat"), "u1-site": ("u1", "static"),
            "u2-weibo": ("u2", "weibo"), "u2-wechat": ("u2", "wechat"), "u2-site": ("u2", "cms")}


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture
def after_national_day(clock: FakeClock) -> FakeClock:
    """The shared clock (the store's too) on Thursday 2025-10-09 10:00, after the 2025 National Day holiday."""
    clock.set(sh("2025-10-09 10:00"))
    return clock


pytestmark = pytest.mark.usefixtures("after_national_day")


async def add_item(store: Store, n: int, published: datetime | None, detected: datetime,
                   accounts: list[str] | dict[str, tuple[str, str]] = ACCOUNTS, *,
                   cal: WorkCalendar = CAL) -> dict[str, int]:
    """Ingest item ``n`` with deadlines from its anchor; return delivery ids by account."""
    item = Item(source_id="gov", guid=f"g{n}", url=f"https://www.gov.cn/zhengce/{n}.htm", title=f"国务院通知第{n}号",
                detected_at=detected, published_at=published, canonical_url=f"https://www.gov.cn/zhengce/{n}.htm",
                content_hash=f"h{n}", content=f"<p>{n}</p>")
    anchor, kind = choose_anchor(published, detected, SETTINGS)
    deadline = compute_deadline(anchor, SETTINGS, cal)
    planned = [PlannedDelivery(ACCOUNTS[a][0], a, ACCOUNTS[a][1], deadline.deadline, deadline.provisional)
               for a in accounts]
    result = await store.ingest(item, anchor, kind, planned, detected)
    return {d.account_id: d.id for d in await store.deliveries(item_id=result.item_id)}  # type: ignore[misc]


async def send(store: Store, clock: FakeClock, account: str, outcome: str, reason: str = "") -> None:
    """Claim what is due on one account and settle it, as the dispatcher would."""
    now = clock.now()
    for d in await store.claim_due(now, "test", {account: 10}, 10):
        assert d.id is not None
        if outcome == "delivered":
            await store.mark_delivered(d.id, now, f"x{d.id}", None)
        elif outcome == "retry":
            await store.mark_retry(d.id, now, reason, now + timedelta(minutes=30))
        else:
            await store.mark_failed(d.id, now, reason)


def monitor(store: Store, clock: FakeClock, tmp_path: Path, alerts: AlertLog | None = None,
            cal: WorkCalendar = CAL, **kw: float) -> DelayMonitor:
    return DelayMonitor(store, lambda _src: SETTINGS, cal, clock, tmp_path / "log" / "delays.jsonl", alerts, **kw)


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_each_kind_once_with_reasons_and_log(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    alerts = AlertLog()
    mon = monitor(store, clock, tmp_path, alerts)
    a = await add_item(store, 1, sh("2025-10-09 09:00"), sh("2025-10-09 09:05"))      # due Fri 10-10 24:00
    b = await add_item(store, 2, sh("2025-10-07 10:00"), sh("2025-10-09 09:00"), ["u2-site"])  # due Thu 24:00
    c = await add_item(store, 3, None, sh("2025-10-09 10:00"), ["u1-site"])           # due Fri 24:00
    await store.set_account_state("u1-wechat", "paused", "公众号改版", clock.now())
    await store.hold_account("u1-wechat", clock.now(), "人工暂停：公众号改版")
    await send(store, clock, "u1-weibo", "retry", "渠道故障：微博接口限流")
    await store.skip(a["u2-weibo"], clock.now(), "与本单位职能无关，经分管领导同意不转载")
    await send(store, clock, "u2-wechat", "delivered")
    d = await store.claim_due(clock.now(), "test", {"u1-site": 1}, 1)
    await store.mark_failed(d[0].id, clock.now(), "内容超出网站栏目字数限制（接口返回 413）")  # type: ignore[arg-type]
    assert d[0].id == a["u1-site"]

    first = {(r.delivery_id, r.kind) for r in await mon.scan()}
    assert first == {(a["u1-site"], DelayKind.FAILED), (a["u2-weibo"], DelayKind.SKIPPED)}
    assert await mon.scan() == []

    clock.set(sh("2025-10-09 21:00"))
    assert {(r.delivery_id, r.kind) for r in await mon.scan()} == {(b["u2-site"], DelayKind.AT_RISK)}
    clock.set(sh("2025-10-10 01:00"))
    await send(store, clock, "u2-site", "delivered")
    late_b = await mon.scan()
    assert [(r.delivery_id, r.kind) for r in late_b] == [(b["u2-site"], DelayKind.DELIVERED_LATE)]
    assert late_b[0].reason == ("于 2025-10-10 01:00 发布，晚于截止时间（2025-10-09 24:00）1 小时（工作时间 0 小时）；"
                                "原因：检测延迟：上游发布于 2025-10-07 10:00，本系统于 2025-10-09 09:00 发现；"
                                "首次发送时已超过截止时间")

    clock.set(sh("2025-10-10 21:00"))
    await send(store, clock, "u1-weibo", "retry", "渠道故障：微博接口限流")
    at_risk = {r.delivery_id: r for r in await mon.scan()}
    assert set(at_risk) == {a["u1-weibo"], a["u1-wechat"], c["u1-site"]}
    assert all(r.kind is DelayKind.AT_RISK for r in at_risk.values())
    assert "渠道故障：微博接口限流（共 2 次）" in at_risk[a["u1-weibo"]].reason
    assert "人工暂停：公众号改版" in at_risk[a["u1-wechat"]].reason
    assert "上游未提供发布时间，按检测时间计" in at_risk[c["u1-site"]].reason
    assert at_risk[c["u1-site"]].reason.startswith("距截止时间（2025-10-10 24:00）仅剩 3 小时，尚未发布；原因：")

    clock.set(sh("2025-10-11 02:00"))
    overdue = {r.delivery_id: r for r in await mon.scan()}
    assert set(overdue) == set(at_risk) and all(r.kind is DelayKind.OVERDUE for r in overdue.values())
    assert overdue[a["u1-wechat"]].reason.startswith("已超过截止时间（2025-10-10 24:00）2 小时（工作时间 0 小时）")

    clock.set(sh("2025-10-11 10:00"))  # a make-up working Saturday: 08:30-10:00 counts as office time
    await send(store, clock, "u1-weibo", "delivered")
    await store.skip(c["u1-site"], clock.now(), "稿件已由上级单位撤回")
    await store.set_account_state("u1-wechat", "active", None, clock.now())
    await store.release_account("u1-wechat", clock.now())
    await send(store, clock, "u1-wechat", "delivered")
    final = {(r.delivery_id, r.kind): r for r in await mon.scan()}
    assert set(final) == {(a["u1-weibo"], DelayKind.DELIVERED_LATE), (a["u1-wechat"], DelayKind.DELIVERED_LATE),
                          (c["u1-site"], DelayKind.SKIPPED)}
    weibo = final[(a["u1-weibo"], DelayKind.DELIVERED_LATE)]
    assert (weibo.late_clock_hours, weibo.late_working_hours) == (10, 1.5)
    assert weibo.reason.startswith(
        "于 2025-10-11 10:00 发布，晚于截止时间（2025-10-10 24:00）10 小时（工作时间 1.5 小时）；原因：")
    assert "渠道故障：微博接口限流（共 2 次）" in weibo.reason
    assert "人工暂停：公众号改版" in final[(a["u1-wechat"], DelayKind.DELIVERED_LATE)].reason  # inherited
    skipped = final[(c["u1-site"], DelayKind.SKIPPED)].reason
    assert skipped.startswith("经人工决定不转载：稿件已由上级单位撤回（跳过时已超过截止时间（2025-10-10 24:00）10 小时")
    assert await mon.scan() == []

    records = await store.delays()
    kinds: dict[int, list[str]] = {}
    for r in records:
        kinds.setdefault(r.delivery_id, []).append(r.kind.value)
    assert sorted(kinds[a["u1-weibo"]]) == ["at_risk", "delivered_late", "overdue"]
    assert kinds[a["u1-site"]] == ["failed"]
    failed = next(r for r in records if r.kind is DelayKind.FAILED)
    assert failed.reason == "发送失败且已停止重试，需人工处理：内容超出网站栏目字数限制（接口返回 413）"
    assert a["u2-wechat"] not in kinds
    mon.close()
    logged = read_log(tmp_path / "log" / "delays.jsonl")
    assert [(e["delivery_id"], e["kind"], e["reason"], e["late_clock_hours"]) for e in logged] == [
        (r.delivery_id, r.kind.value, r.reason, round(r.late_clock_hours, 3)) for r in records]
    assert logged[0]["recorded_at"].endswith("+08:00") and "国务院通知" in logged[0]["item_title"]
    assert "经分管领导同意不转载" in (tmp_path / "log" / "delays.jsonl").read_text(encoding="utf-8")  # not \u escapes
    assert len(alerts.alerts) == 7 and all(m.startswith(("【即将超时】", "【已超时】")) for _, m in alerts.alerts)
    assert any(acct == "u1-wechat" and "人工暂停：公众号改版" in m for acct, m in alerts.alerts)


async def test_needs_reauth_and_confirming_reasons(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    ids = await add_item(store, 1, sh("2025-10-09 09:00"), sh("2025-10-09 09:05"), ["u1-weibo", "u1-wechat"])
    await store.set_account_state("u1-weibo", "needs_reauth", "微博授权已过期（21327）", clock.now())
    await store.hold_account("u1-weibo", clock.now(), "微博授权已过期（21327）")
    [d] = await store.claim_due(clock.now(), "test", {"u1-wechat": 1}, 1)
    await store.mark_confirming(d.id, clock.now(), "publish-1", clock.now() + timedelta(minutes=5))  # type: ignore[arg-type]
    clock.set(sh("2025-10-11 09:00"))
    mon = monitor(store, clock, tmp_path)
    by_id = {r.delivery_id: r for r in await mon.scan()}
    assert "账号授权失效，需重新授权：微博授权已过期（21327）" in by_id[ids["u1-weibo"]].reason
    assert by_id[ids["u1-weibo"]].reason.count("21327") == 1   # the held row's last_error is not repeated
    assert "平台已受理，等待平台发布结果" in by_id[ids["u1-wechat"]].reason
    assert by_id[ids["u1-wechat"]].late_working_hours == 0.5  # Sat 2025-10-11 is a make-up working day
    mon.close()


async def test_provisional_deadline_reason_and_recompute(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    cal = WorkCalendar(tmp_path / "calendar")
    clock.set(sh("2026-12-31 10:00"))
    ids = await add_item(store, 1, sh("2026-12-31 09:00"), sh("2026-12-31 09:30"), ["u1-site"], cal=cal)
    [d] = await store.deliveries(item_id=1)
    assert d.deadline_provisional and local_text(d.deadline_at) == "2027-01-04 24:00"  # guess: 01-01 元旦
    clock.set(sh("2027-01-04 21:00"))
    mon = monitor(store, clock, tmp_path, cal=cal)
    [r] = await mon.scan()
    assert r.kind is DelayKind.AT_RISK and "截止时间为临时计算：2027年节假日安排未载入" in r.reason

    recompute = lambda: recompute_deadlines(store, cal, lambda _s: SETTINGS, clock.now(), mon.delay_log)  # noqa: E731
    assert (await recompute()).changed == 0   # nothing new loaded yet
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "2027.toml").write_text(OVERRIDE_2027, encoding="utf-8")
    cal.reload()
    assert await recompute() == Recomputed(changed=1, superseded=1)
    d2 = await store.get_delivery(ids["u1-site"])
    assert d2 is not None and not d2.deadline_provisional
    assert local_text(d2.deadline_at) == "2027-01-05 24:00"   # 2027-01-04 is a holiday in the override
    assert await store.delays() == []      # the at_risk record against the guess is superseded, not kept
    [old] = await store.superseded_delays(ids["u1-site"])
    assert old.kind == "at_risk" and local_text(old.new_deadline_at) == "2027-01-05 24:00"
    assert (await recompute()).changed == 0
    clock.set(sh("2027-01-05 12:00"))
    assert await mon.scan() == []          # no longer due today: nothing more on record
    mon.close()
    entries = read_log(tmp_path / "log" / "delays.jsonl")
    assert [(e["type"], e["kind"]) for e in entries] == [("delay", "at_risk"), ("superseded", "at_risk")]
    assert entries[1]["why"] == "按新的节假日安排重算截止时间：2027-01-04 24:00 → 2027-01-05 24:00"


async def test_run_loop_survives_a_failed_scan_and_log_rotates(store: Store, clock: FakeClock, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    for n in range(6):
        await add_item(store, n, sh("2025-10-09 09:00"), sh("2025-10-09 09:05"), ["u1-site"])
    clock.set(sh("2025-10-12 09:00"))
    mon = monitor(store, clock, tmp_path, log_max_bytes=1500, log_backups=5)
    stop = asyncio.Event()
    calls = 0
    real_scan = mon.scan

    async def flaky_scan() -> list:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        stop.set()
        return await real_scan()

    mon.scan = flaky_scan  # type: ignore[method-assign]
    await asyncio.wait_for(mon.run(stop, 0.001), 5)
    assert calls == 2 and "delay scan failed" in caplog.text
    assert '"kind": "overdue"' not in caplog.text          # the JSON lines never reach the root logger
    files = sorted(p.name for p in (tmp_path / "log").iterdir())
    assert files[0] == "delays.jsonl" and "delays.jsonl.1" in files
    lines = [e for p in (tmp_path / "log").iterdir() for e in read_log(p)]
    assert len(lines) == 6 and all(e["kind"] == "overdue" for e in lines)


def delivery_facts(**given: Any) -> DeliveryFacts:
    """A static-export delivery's facts for reason tests: ``given`` sets what the test is about."""
    base: dict[str, Any] = dict(
        id=1, item_id=1, unit_id="u1", account_id="u1-site", channel_kind="static", provisional=False,
        next_attempt_at=None, delivered_at=None, last_error=None, note=None, possible_duplicate=False,
        ambiguous=False, title="t", source_id="gov", account_state=None, account_reason=None)
    return DeliveryFacts(**(base | given))


def test_reason_for_untrustworthy_upstream_time_and_unknown_cause() -> None:
    f = delivery_facts(
        state="retrying", deadline_at=sh("2025-10-11 00:00"), attempts=1, updated_at=sh("2025-10-09 10:00"),
        published_at=sh("2025-10-09 18:00"), detected_at=sh("2025-10-09 10:00"),
        anchor_at=sh("2025-10-09 10:00"), anchor_kind="detected")
    text = build_reason(DelayKind.OVERDUE, f, sh("2025-10-11 01:30"), None, {}, SETTINGS, CAL, 2.0)
    assert text == ("已超过截止时间（2025-10-10 24:00）1.5 小时（工作时间 0 小时），尚未发布；原因："
                    "上游发布时间不可信，按检测时间计（上游标注 2025-10-09 18:00，晚于检测时间）")
    plain = build_reason(DelayKind.OVERDUE, replace(f, anchor_kind="published", published_at=f.detected_at),
                         sh("2025-10-11 01:30"), None, {}, SETTINGS, CAL, 2.0)
    assert plain.endswith("；原因：未发现渠道错误、暂停或检测延迟记录，请核查系统运行日志")
