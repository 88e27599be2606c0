"""A simulated month of traffic with injected outages: the delay log file, ``delays()`` and the
monthly report must agree with the deliveries in the store. FakeClock only; no sleeps."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.clock import FakeClock
from core.models import DelayKind
from syndicator.delays import DelayMonitor
from syndicator.report import (
    DELAY_COLUMNS,
    PROOF_COLUMNS,
    delays_listing,
    format_delays,
    format_report,
    month_bounds,
    monthly_report,
    percentile,
)
from syndicator.store import Store
from tests.fakes import AlertLog
from tests.syndicator.test_delays import ACCOUNTS, CAL, SETTINGS, add_item, read_log, send, sh

OUTAGE = ("u1-weibo", sh("2025-10-09 12:00"), sh("2025-10-13 12:00"), "渠道故障：微博接口限流")
PAUSE = ("u2-wechat", sh("2025-10-20 09:00"), sh("2025-10-22 18:00"), "公众号改版")
REAUTH = ("u1-wechat", sh("2025-10-30 10:00"), "微信授权已失效（40001）")
FAIL = ("u1-site", sh("2025-10-24 09:00"), "内容超出网站栏目字数限制（接口返回 413）")
SKIPS = {sh("2025-10-05 15:00"), sh("2025-10-27 15:00")}          # u2-site, by a person
SKIP_REASON = "与本单位职能无关，经分管领导同意不转载"
LATE_DETECTED = (sh("2025-10-15 09:00"), sh("2025-10-17 03:00"))   # upstream page found 42 h late
END = sh("2025-11-04 12:00")


@pytest.fixture
def before_october(clock: FakeClock) -> FakeClock:
    """The shared clock (the store's too) at 2025-09-29 00:00: the simulated October is still ahead."""
    clock.set(sh("2025-09-29 00:00"))
    return clock


pytestmark = pytest.mark.usefixtures("before_october")


@dataclass
class Sim:
    """The dispatcher's decisions, scripted: outage → retry, pause/re-auth → held, one permanent failure."""

    store: Store
    clock: FakeClock
    monitor: DelayMonitor
    items: list[tuple[datetime, datetime]]                     # (published, detected), by detection time
    ids: dict[datetime, dict[str, int]] = field(default_factory=dict)   # published -> account -> delivery
    created: dict[int, datetime] = field(default_factory=dict)
    finished: dict[int, datetime] = field(default_factory=dict)
    scans: list[datetime] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)

    async def step(self) -> None:
        now = self.clock.now()
        while self.items and self.items[0][1] <= now:
            published, detected = self.items.pop(0)
            ids = self.ids[published] = await add_item(self.store, len(self.ids), published, detected)
            self.created.update((i, now) for i in ids.values())
            if published in SKIPS:
                await self.store.skip(ids["u2-site"], now, SKIP_REASON)
                self.finished[ids["u2-site"]] = now
        if now == PAUSE[1]:
            self.blocked.add(PAUSE[0])
            await self.store.set_account_state(PAUSE[0], "paused", PAUSE[3], now)
            await self.store.hold_account(PAUSE[0], now, f"人工暂停：{PAUSE[3]}")
        if now == PAUSE[2]:
            self.blocked.discard(PAUSE[0])
            await self.store.set_account_state(PAUSE[0], "active", None, now)
            await self.store.release_account(PAUSE[0], now)
        capacity = {a: 50 for a in ACCOUNTS if a not in self.blocked}
        for d in await self.store.claim_due(now, "sim", capacity, 500):
            assert d.id is not None
            if d.account_id == OUTAGE[0] and OUTAGE[1] <= now < OUTAGE[2]:
                await self.store.mark_retry(d.id, now, OUTAGE[3], now + timedelta(hours=1))
            elif d.account_id == REAUTH[0] and now >= REAUTH[1]:
                await self.store.mark_held(d.id, now, REAUTH[2])
                await self.store.set_account_state(REAUTH[0], "needs_reauth", REAUTH[2], now)
                await self.store.hold_account(REAUTH[0], now, REAUTH[2])
                self.blocked.add(REAUTH[0])
            elif d.id == self.ids.get(FAIL[1], {}).get(FAIL[0]):
                await self.store.mark_failed(d.id, now, FAIL[2])
                self.finished[d.id] = now
            else:
                await self.store.mark_delivered(d.id, now, f"ext-{d.id}", None)
                self.finished[d.id] = now
        await self.monitor.scan()
        self.scans.append(now)


def traffic() -> list[tuple[datetime, datetime]]:
    """Two items a day, 09:00 and 15:00 (weekends and holidays too), found an hour later."""
    out = []
    day = sh("2025-09-29 00:00")
    while day < sh("2025-11-01 00:00"):
        for hour in (9, 15):
            published = day + timedelta(hours=hour)
            found = LATE_DETECTED[1] if published == LATE_DETECTED[0] else published + timedelta(hours=1)
            out.append((published, found))
        day += timedelta(days=1)
    return sorted(out, key=lambda pd: pd[1])


def expected_kinds(sim: Sim, deliveries: list) -> set[tuple[int, DelayKind]]:
    """What a scan after every step must have recorded, derived from the deliveries alone."""
    out: set[tuple[int, DelayKind]] = set()
    for d in deliveries:
        fin = sim.finished.get(d.id)
        open_at = [t for t in sim.scans if sim.created[d.id] <= t and (fin is None or t < fin)]
        if any(d.deadline_at - timedelta(hours=SETTINGS.at_risk_hours) <= t < d.deadline_at for t in open_at):
            out.add((d.id, DelayKind.AT_RISK))
        if any(t > d.deadline_at for t in open_at):
            out.add((d.id, DelayKind.OVERDUE))
        if d.state.value == "delivered" and d.delivered_at > d.deadline_at:
            out.add((d.id, DelayKind.DELIVERED_LATE))
        if d.state.value in ("failed", "skipped"):
            out.add((d.id, DelayKind(d.state.value)))
    return out


def p95(values: list[float]) -> float:
    return values[0] if len(values) == 1 else statistics.quantiles(values, n=20, method="inclusive")[-1]


async def test_simulated_month_log_records_and_report_agree(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    alerts = AlertLog()
    log_path = tmp_path / "delays.jsonl"
    monitor = DelayMonitor(store, lambda _src: SETTINGS, CAL, clock, log_path, alerts)
    sim = Sim(store, clock, monitor, traffic())
    while clock.now() <= END:
        await sim.step()
        clock.advance(hours=1)
    monitor.close()

    deliveries = await store.deliveries(limit=100_000)
    records = await store.delays()
    by_key = {(r.delivery_id, r.kind): r for r in records}
    assert len(by_key) == len(records)                                   # once per delivery and kind
    assert set(by_key) == expected_kinds(sim, deliveries)
    assert len(alerts.alerts) == sum(r.kind in (DelayKind.AT_RISK, DelayKind.OVERDUE) for r in records)

    # the JSON-lines file holds exactly the records in the store
    logged = read_log(log_path)
    assert [(e["delivery_id"], e["kind"], e["reason"], e["late_clock_hours"], e["late_working_hours"])
            for e in logged] == [(r.delivery_id, r.kind.value, r.reason, round(r.late_clock_hours, 3),
                                  round(r.late_working_hours, 3)) for r in records]

    # lateness on record is the deliveries' own
    for d in deliveries:
        rec = by_key.get((d.id, DelayKind.DELIVERED_LATE))  # type: ignore[arg-type]
        if rec is not None:
            assert rec.late_clock_hours == pytest.approx((d.delivered_at - d.deadline_at).total_seconds() / 3600)

    # reasons name the real cause
    def reasons(account: str, kind: DelayKind) -> list[str]:
        return [r.reason for r in records if r.account_id == account and r.kind is kind]

    outage_late = [r for r in reasons("u1-weibo", DelayKind.DELIVERED_LATE) if "微博接口限流" in r]
    assert len(outage_late) == 3 and all(r.count("微博接口限流") == 1 for r in outage_late)
    assert all("人工暂停：公众号改版" in r for r in reasons("u2-wechat", DelayKind.OVERDUE))
    assert sum("人工暂停：公众号改版" in r for r in reasons("u2-wechat", DelayKind.DELIVERED_LATE)) == 2
    reauth = reasons("u1-wechat", DelayKind.OVERDUE)
    assert reauth and all("账号授权失效，需重新授权：微信授权已失效（40001）" in r for r in reauth)
    late_found = [r for r in records if "检测延迟：上游发布于" in r.reason]
    assert len(late_found) == 6 and all("检测到稿件时已超过截止时间" in r.reason for r in late_found)
    assert reasons("u1-site", DelayKind.FAILED) == [f"发送失败且已停止重试，需人工处理：{FAIL[2]}"]
    assert reasons("u2-site", DelayKind.SKIPPED) == [f"经人工决定不转载：{SKIP_REASON}"] * 2

    # the monthly report agrees with the deliveries
    start, end = month_bounds("2025-10", SETTINGS)
    rows = {(r["unit_id"], r["channel"]): r for r in await monthly_report(store, "2025-10", CAL, SETTINGS)}
    assert len(rows) == 6
    for (unit, channel), row in rows.items():
        mine = [d for d in deliveries if d.unit_id == unit and d.channel_kind == channel
                and start < d.deadline_at <= end]
        late_h = [(d.delivered_at - d.deadline_at).total_seconds() / 3600 for d in mine
                  if d.state.value == "delivered" and d.delivered_at > d.deadline_at]
        assert row["required"] == len(mine) == 62          # items published 09-30 … 10-30
        assert row["late"] == len(late_h)
        assert row["on_time"] == sum(d.state.value == "delivered" and d.delivered_at <= d.deadline_at for d in mine)
        assert row["skipped"] == sum(d.state.value == "skipped" for d in mine)
        assert row["missing"] == sum(d.state.value not in ("delivered", "skipped") for d in mine)
        assert row["open"] == 0
        assert row["late_median_hours"] == pytest.approx(statistics.median(late_h))
        assert row["late_p95_hours"] == pytest.approx(p95(late_h))
        recorded = [by_key[(d.id, DelayKind.DELIVERED_LATE)].late_clock_hours for d in mine  # type: ignore[index]
                    if (d.id, DelayKind.DELIVERED_LATE) in by_key]
        assert sorted(recorded) == pytest.approx(sorted(late_h))
    weibo = rows[("u1", "weibo")]
    assert (weibo["late"], weibo["late_median_hours"], weibo["late_p95_hours"]) == (4, 36, pytest.approx(56.4))
    assert rows[("u1", "wechat")]["missing"] == 2 and rows[("u1", "static")]["missing"] == 1
    assert rows[("u2", "cms")]["skipped"] == 2 and rows[("u2", "wechat")]["late"] == 3
    sept = await monthly_report(store, "2025-09", CAL, SETTINGS)   # 09-29 items are due "09-30 24:00"
    assert {r["required"] for r in sept} == {2}

    text = format_report(list(rows.values()), "md")
    assert text.startswith("# 2025年10月转载时效月报") and "| u1 | 政务微博 | 62 | 58 | 4 | 0 | 0 | 0 |" in text
    listing = await delays_listing(store, None, None, "u1", "weibo", calendar=CAL, settings_for=lambda _s: SETTINGS,
                                   now=clock.now())
    assert {r["kind"] for r in listing} == {"at_risk", "overdue", "delivered_late"}
    assert all(r["unit_id"] == "u1" and r["channel"] == "weibo" for r in listing)
    parsed = list(csv.reader(io.StringIO(format_delays(listing, "csv"))))
    assert tuple(parsed[0]) == (*DELAY_COLUMNS, *PROOF_COLUMNS) and len(parsed) == len(listing) + 1


def test_percentile_is_linear_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile([1, 2, 3, 4], 0.95) == pytest.approx(3.85)


def test_month_bounds_and_bad_month() -> None:
    start, end = month_bounds("2025-12", SETTINGS)
    assert (start.isoformat(), end.isoformat()) == ("2025-12-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00")
    with pytest.raises(ValueError, match="月份应为 YYYY-MM 格式"):
        month_bounds("2025-13", SETTINGS)


def test_format_delays_shapes() -> None:
    row = {"delivery_id": 5, "unit_id": "u1", "channel": "weibo", "account_id": "u1-weibo", "kind": "overdue",
           "item_title": "国务院办公厅关于印发某某方案的通知" * 3, "deadline_at": sh("2025-10-11 00:00"),
           "recorded_at": sh("2025-10-11 02:00"), "late_clock_hours": 2.0, "late_working_hours": 0.0,
           "reason": "已超过截止时间（2025-10-10 24:00）2 小时（工作时间 0 小时），尚未发布；"
                     "原因：渠道故障：微博接口限流"}
    table = format_delays([row], "table", names={"u1": "市发改委"})
    header, rule, line = table.splitlines()
    assert header.startswith("单位") and "截止时间（北京时间）" in header and set(rule) <= {"-", " "}
    assert "市发改委" in line and "政务微博" in line and "2025-10-10 24:00" in line and "…" in line
    assert format_delays([], "table") == "（所选范围内没有延误记录）"
    csv_rows = list(csv.reader(io.StringIO(format_delays([row], "csv"))))
    assert csv_rows[1][10] == row["reason"] and csv_rows[1][7] == "2"
    [obj] = json.loads(format_delays([row], "json"))
    assert obj["deadline_at"] == "2025-10-11T00:00:00+08:00" and obj["kind_label"] == "已超时未发布"
    with pytest.raises(ValueError):
        format_delays([row], "xml")


def test_format_report_csv_and_empty() -> None:
    row = {"month": "2025-10", "unit_id": "u1", "channel": "wechat", "required": 10, "on_time": 7, "late": 1,
           "missing": 1, "skipped": 1, "open": 0, "on_time_rate": 7 / 9, "late_median_hours": 18.0,
           "late_p95_hours": 18.0, "late_median_working_hours": 9.0, "late_p95_working_hours": 9.0}
    lines = list(csv.reader(io.StringIO(format_report([{**row, "as_of": sh("2025-11-03 09:30")}], "csv"))))
    assert lines[0][0].startswith("2025年10月转载时效月报") and lines[1][0] == "单位"
    assert lines[0][1] == "统计时间：2025-11-03 09:30（北京时间）"
    assert lines[2][:9] == ["u1", "政务微信", "10", "7", "1", "1", "1", "0", "77.8%"]
    assert lines[3][0].startswith("口径：") and "统计时间已过截止时间仍未发布" in lines[3][0]
    empty = format_report([], "md", month="2025-11", as_of=sh("2025-12-01 08:00"))
    assert empty.startswith("# 2025年11月转载时效月报") and "没有截止时间在本月的转载任务" in empty
    assert "统计时间：2025-12-01 08:00（北京时间）" in empty and "未到期 = 统计时间尚未到截止时间" in empty


async def test_missing_means_deadline_passed_at_report_time(store: Store, clock: FakeClock) -> None:
    """A failed delivery whose deadline is still ahead is not yet missing (a person can retry it in
    time); once the deadline passes it is, like any other delivery not sent; skipped stays apart."""
    clock.set(sh("2025-10-09 10:00"))
    ids = await add_item(store, 1, sh("2025-10-09 09:00"), sh("2025-10-09 09:05"))      # due Fri 10-10 24:00
    [d] = await store.claim_due(clock.now(), "t", {"u1-site": 1}, 1)
    await store.mark_failed(d.id, clock.now(), "接口返回 413")  # type: ignore[arg-type]
    await store.skip(ids["u2-site"], clock.now(), SKIP_REASON)
    before = {(r["unit_id"], r["channel"]): r for r in await monthly_report(store, "2025-10", CAL, SETTINGS)}
    assert (before[("u1", "static")]["missing"], before[("u1", "static")]["open"]) == (0, 1)
    assert before[("u2", "cms")]["skipped"] == 1
    clock.set(sh("2025-10-11 01:00"))
    after = await monthly_report(store, "2025-10", CAL, SETTINGS)
    by = {(r["unit_id"], r["channel"]): r for r in after}
    assert (by[("u1", "static")]["missing"], by[("u1", "static")]["open"]) == (1, 0)
    assert (by[("u1", "weibo")]["missing"], by[("u2", "cms")]["missing"]) == (1, 0)
    assert by[("u2", "cms")]["skipped"] == 1
    text = format_report(after, "md")
    assert "统计时间：2025-10-11 01:00（北京时间）" in text.splitlines()[2]
    assert "未发布（已超时）= 统计时间已过截止时间仍未发布（含发送失败" in text


def test_every_real_channel_kind_has_a_label() -> None:
    from channels.registry import CHANNEL_KINDS
    from syndicator.dashboard.render import channel_name
    from syndicator.labels import CHANNEL_LABELS, channel_label

    assert set(CHANNEL_LABELS) == set(CHANNEL_KINDS)
    assert {k: channel_label(k) for k in ("cms", "static", "webhook", "push")} == {
        "cms": "政府网站（CMS）", "static": "政府网站（静态发布）", "webhook": "客户端（Webhook）",
        "push": "新闻客户端"}
    assert all(channel_name(k) == channel_label(k) for k in CHANNEL_KINDS)   # one set of labels everywhere


async def test_open_overdue_rows_show_live_lateness(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    """The overdue record keeps what it said when written; the listing shows how late it is now, and
    once delivered the delivered_late record carries the final lateness."""
    clock.set(sh("2025-10-09 10:00"))
    ids = await add_item(store, 1, sh("2025-10-09 09:00"), sh("2025-10-09 09:05"), ["u1-weibo"])  # due 10-10 24:00
    monitor = DelayMonitor(store, lambda _src: SETTINGS, CAL, clock)
    clock.set(sh("2025-10-11 02:00"))
    [overdue] = await monitor.scan()
    assert (overdue.kind, overdue.late_clock_hours) == (DelayKind.OVERDUE, 2)
    clock.set(sh("2025-10-11 09:00"))
    live = await delays_listing(store, None, None, None, None, calendar=CAL, settings_for=lambda _s: SETTINGS,
                                now=clock.now())
    [row] = live
    assert (row["late_clock_hours"], row["late_working_hours"], row["recorded_late_clock_hours"]) == (9, 0.5, 2)
    assert row["late_as_of"] == clock.now()
    table = format_delays(live, "table")
    assert "仍未发布（超时计至 2025-10-11 09:00）" in table and "超时时长计算至 2025-10-11 09:00" in table
    [csv_row] = list(csv.reader(io.StringIO(format_delays(live, "csv"))))[1:]
    assert csv_row[7:10] == ["9", "0.5", "仍未发布（超时计至 2025-10-11 09:00）"]

    clock.set(sh("2025-10-11 10:00"))
    await send(store, clock, "u1-weibo", "delivered")
    [final] = await monitor.scan()
    assert (final.kind, final.late_clock_hours, final.late_working_hours) == (DelayKind.DELIVERED_LATE, 10, 1.5)
    clock.set(sh("2025-10-12 10:00"))
    rows = {r["kind"]: r for r in await delays_listing(store, None, None, None, None, calendar=CAL,
                                                       settings_for=lambda _s: SETTINGS, now=clock.now())}
    assert (rows["overdue"]["late_clock_hours"], rows["overdue"]["late_as_of"]) == (2, None)   # as recorded
    assert rows["delivered_late"]["late_clock_hours"] == 10
    assert ids["u1-weibo"] == rows["overdue"]["delivery_id"] and rows["overdue"]["state"] == "delivered"

