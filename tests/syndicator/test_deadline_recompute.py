"""Recomputing stored deadlines after a calendar change: each delivery from its own anchor (an
update's re-send from the update), finished deliveries too, obsolete delay records superseded and
derived again, and package years an override later corrects. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from core.clock import FakeClock
from core.models import DelayKind
from feeds.model import Entry
from feeds.specs import RuleSpec
from syndicator.calendar import WorkCalendar
from syndicator.config import Settings
from syndicator.delays import DelayMonitor, local_text
from syndicator.intake import Intake
from syndicator.recompute import Recomputed, changed_days, recompute_deadlines
from syndicator.report import monthly_report
from syndicator.store import Store
from syndicator.store.db import open_database
from syndicator.store.reports import DeliveryFacts
from syndicator.store.schema import MIGRATIONS, _statements, migrate
from tests.conftest import pg_schema
from tests.e2e.test_calendar_reload import OVERRIDE_2027
from tests.paths import ROOT_DIR
from tests.syndicator.test_delays import SETTINGS, add_item, delivery_facts, read_log, send, sh

README = (ROOT_DIR / "config" / "calendar" / "README.md").read_text("utf-8")
OVERRIDE_2026 = README.split("# config/calendar/2026.toml\n", 1)[1].split("```", 1)[0]   # = chinesecalendar 1.11
# A hypothetical short-notice change to 2026 (like January 2020): Mon 2026-09-28 becomes a holiday too.
OVERRIDE_2026_EXTENDED = OVERRIDE_2026.replace('to = "2026-09-27", name = "中秋节"',
                                               'to = "2026-09-28", name = "中秋节"')
# A hypothetical make-up Saturday: deadlines move *earlier*.
OVERRIDE_2027_MAKEUP = """
year = 2027
notice = "测试用：假设 2027-01-09 周六调休上班"
holidays = []
workdays = ["2027-01-09"]
"""


def settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({
        "base_dir": tmp_path,
        "sources": [{"id": "gov", "name": "国务院", "kind": "rss", "url": "https://www.gov.cn/rss.xml"}],
        "units": [{"id": "u1", "name": "单位一", "resend_updates": True, "accounts": [
            {"id": "u1-site", "kind": "static",
             "options": {"directory": "site", "public_url": "https://u1.example.gov.cn/"}}]}],
    })


def write_override(tmp_path: Path, year: int, text: str) -> None:
    (tmp_path / "calendar").mkdir(exist_ok=True)
    (tmp_path / "calendar" / f"{year}.toml").write_text(text, encoding="utf-8")


def monitor(store: Store, cal: WorkCalendar, clock: FakeClock, tmp_path: Path) -> DelayMonitor:
    return DelayMonitor(store, lambda _s: SETTINGS, cal, clock, tmp_path / "delays.jsonl")


async def test_a_resend_is_recomputed_from_the_updates_own_anchor(store: Store, tmp_path: Path) -> None:
    """The audit's repro: v1 published 2026-12-20, v2 found 2026-12-31 10:00, then 2027.toml appears."""
    clock = FakeClock(sh("2026-12-20 10:00"))
    cal = WorkCalendar(tmp_path / "calendar")
    s = settings(tmp_path)
    intake = Intake(s, store, cal, clock)
    entry = Entry(url="https://www.gov.cn/zhengce/1.htm", title="国务院关于某事项的通知", guid="g1",
                  content="<p>正文</p>", published_at=sh("2026-12-20 09:00"))
    assert (await intake.accept(s.sources[0], entry, RuleSpec())).status == "created"
    clock.set(sh("2026-12-31 10:00"))
    entry.title = "国务院关于某事项的通知（修订）"
    result = await intake.accept(s.sources[0], entry, RuleSpec())
    assert (result.status, result.deliveries, result.version) == ("updated", 1, 2)
    v1, v2 = sorted(await store.deliveries(), key=lambda d: d.id or 0)
    assert local_text(v1.deadline_at) == "2026-12-21 24:00" and not v1.deadline_provisional
    assert local_text(v2.deadline_at) == "2027-01-04 24:00" and v2.deadline_provisional   # provisional guess

    [facts] = [f for f in await store.open_due(clock.now(), sh("2027-01-06 00:00")) if f.id == v2.id]
    assert (facts.anchor_at, facts.anchor_kind) == (sh("2026-12-31 10:00"), "updated")

    write_override(tmp_path, 2027, OVERRIDE_2027)
    cal.reload()
    assert (await recompute_deadlines(store, cal, s.deadlines_for, clock.now())).changed == 1
    after = {d.id: d for d in await store.deliveries()}
    assert local_text(after[v2.id].deadline_at) == "2027-01-05 24:00"   # not 2026-12-22 (from v1's anchor)
    assert not after[v2.id].deadline_provisional
    assert after[v1.id].deadline_at == v1.deadline_at


async def test_an_update_soon_after_publication_is_due_from_the_update(store: Store, tmp_path: Path) -> None:
    """Published Mon 09:00, changed upstream Tue 20:00 (publication time still believable): the
    re-send is due Wed 24:00, one working day after the change, not Tue 24:00 from the first version."""
    clock = FakeClock(sh("2025-10-20 09:10"))
    s = settings(tmp_path)
    intake = Intake(s, store, WorkCalendar(), clock)
    entry = Entry(url="https://www.gov.cn/zhengce/2.htm", title="国务院关于另一事项的通知", guid="g2",
                  content="<p>正文</p>", published_at=sh("2025-10-20 09:00"))
    await intake.accept(s.sources[0], entry, RuleSpec())
    clock.set(sh("2025-10-21 20:00"))
    entry.content = "<p>正文（更正）</p>"
    assert (await intake.accept(s.sources[0], entry, RuleSpec())).status == "updated"
    v1, v2 = sorted(await store.deliveries(), key=lambda d: d.id or 0)
    assert (local_text(v1.deadline_at), local_text(v2.deadline_at)) == ("2025-10-21 24:00", "2025-10-22 24:00")


async def test_finished_deliveries_are_recomputed_and_their_records_rebuilt(store: Store, tmp_path: Path) -> None:
    """A delivery late only against the provisional guess is on time once 2027 is known: the
    delivered_late record is superseded (archived and logged), and the report says on time."""
    clock = FakeClock(sh("2026-12-31 10:00"))
    cal = WorkCalendar(tmp_path / "calendar")
    ids = await add_item(store, 1, sh("2026-12-31 09:00"), sh("2026-12-31 09:30"), ["u1-site", "u1-weibo"], cal=cal)
    mon = monitor(store, cal, clock, tmp_path)
    clock.set(sh("2027-01-05 10:00"))
    await send(store, clock, "u1-site", "delivered")
    recorded = {(r.delivery_id, r.kind) for r in await mon.scan()}
    assert recorded == {(ids["u1-site"], DelayKind.DELIVERED_LATE), (ids["u1-weibo"], DelayKind.OVERDUE)}
    [jan] = [r for r in await monthly_report(store, "2027-01", cal, SETTINGS) if r["channel"] == "static"]
    assert (jan["late"], jan["on_time"]) == (1, 0)

    write_override(tmp_path, 2027, OVERRIDE_2027)
    cal.reload()
    result = await recompute_deadlines(store, cal, lambda _s: SETTINGS, clock.now(), mon.delay_log)
    assert result == Recomputed(changed=2, superseded=2)
    assert await store.delays() == []
    assert {(s.delivery_id, s.kind) for s in await store.superseded_delays()} == {
        (ids["u1-site"], "delivered_late"), (ids["u1-weibo"], "overdue")}
    assert await mon.scan() == []          # on time now; the open one is no longer overdue
    rows = {r["channel"]: r for r in await monthly_report(store, "2027-01", cal, SETTINGS)}
    assert (rows["static"]["late"], rows["static"]["on_time"]) == (0, 1)
    assert (rows["weibo"]["missing"], rows["weibo"]["open"]) == (0, 1)

    clock.set(sh("2027-01-06 01:00"))      # the real deadline (01-05 24:00) passes: overdue again, honestly
    [again] = await mon.scan()
    assert (again.delivery_id, again.kind) == (ids["u1-weibo"], DelayKind.OVERDUE)
    assert again.reason.startswith("已超过截止时间（2027-01-05 24:00）1 小时")
    mon.close()
    superseded = [e for e in read_log(tmp_path / "delays.jsonl") if e["type"] == "superseded"]
    assert {e["kind"] for e in superseded} == {"delivered_late", "overdue"}
    assert all(e["old_deadline_at"] == "2027-01-05T00:00:00+08:00" and e["new_deadline_at"] ==
               "2027-01-06T00:00:00+08:00" and "按新的节假日安排重算截止时间" in e["why"] for e in superseded)


async def test_a_deadline_moved_earlier_is_derived_again_long_after(store: Store, tmp_path: Path) -> None:
    """A make-up Saturday turns an on-time delivery late; the monitor finds it by the moved deadline
    even when the deadline is far outside its usual look-back."""
    clock = FakeClock(sh("2027-01-08 10:00"))
    cal = WorkCalendar(tmp_path / "calendar")
    ids = await add_item(store, 1, sh("2027-01-08 09:00"), sh("2027-01-08 09:30"), ["u1-site"], cal=cal)
    clock.set(sh("2027-01-10 10:00"))
    await send(store, clock, "u1-site", "delivered")   # on time against Mon 01-11 24:00
    clock.set(sh("2027-03-01 10:00"))
    mon = monitor(store, cal, clock, tmp_path)
    assert await mon.scan() == []
    write_override(tmp_path, 2027, OVERRIDE_2027_MAKEUP)
    cal.reload()
    assert (await recompute_deadlines(store, cal, lambda _s: SETTINGS, clock.now())).changed == 1
    [late] = await mon.scan()
    assert (late.delivery_id, late.kind, late.late_clock_hours) == (ids["u1-site"], DelayKind.DELIVERED_LATE, 10)
    assert late.reason.startswith("于 2027-01-10 10:00 发布，晚于截止时间（2027-01-09 24:00）10 小时")
    mon.close()


async def test_an_override_corrects_a_package_year(store: Store, tmp_path: Path) -> None:
    """The override wins over chinese-calendar: a short-notice change to 2026 moves the deadlines it
    touches (not provisional, so only the changed days make them candidates); a restart repeats nothing."""
    clock = FakeClock(sh("2026-09-24 10:00"))
    cal = WorkCalendar(tmp_path / "calendar")
    near = await add_item(store, 1, sh("2026-09-24 09:00"), sh("2026-09-24 09:30"), ["u1-site"], cal=cal)
    far = await add_item(store, 2, sh("2026-03-10 09:00"), sh("2026-03-10 09:30"), ["u1-site"], cal=cal)
    before = await store.get_delivery(near["u1-site"])
    assert before is not None and local_text(before.deadline_at) == "2026-09-28 24:00"
    assert not before.deadline_provisional
    assert await recompute_deadlines(store, cal, lambda _s: SETTINGS, clock.now()) == Recomputed(0, 0)

    write_override(tmp_path, 2026, OVERRIDE_2026_EXTENDED)
    cal.reload()
    assert changed_days(cal, {}, cal.override_days()) == {date(2026, 9, 28)}
    window = (sh("2026-09-27 00:00"), sh("2026-09-30 00:00"))
    assert {c.delivery_id for c in await store.deadline_candidates(window)} == {near["u1-site"]}
    assert (await recompute_deadlines(store, cal, lambda _s: SETTINGS, clock.now())).changed == 1
    moved = await store.get_delivery(near["u1-site"])
    assert moved is not None and local_text(moved.deadline_at) == "2026-09-29 24:00"
    untouched = await store.get_delivery(far["u1-site"])
    assert untouched is not None and local_text(untouched.deadline_at) == "2026-03-11 24:00"
    # what was applied is remembered in the store: a restarted hub (fresh calendar) finds nothing to do
    assert await recompute_deadlines(store, WorkCalendar(tmp_path / "calendar"), lambda _s: SETTINGS,
                                     clock.now()) == Recomputed(0, 0)
    # removing the override puts the package's answer back
    (tmp_path / "calendar" / "2026.toml").unlink()
    cal.reload()
    assert (await recompute_deadlines(store, cal, lambda _s: SETTINGS, clock.now())).changed == 1
    back = await store.get_delivery(near["u1-site"])
    assert back is not None and back.deadline_at == before.deadline_at


def test_an_override_equal_to_the_package_changes_no_day(tmp_path: Path) -> None:
    assert OVERRIDE_2026_EXTENDED != OVERRIDE_2026
    write_override(tmp_path, 2026, OVERRIDE_2026)
    cal = WorkCalendar(tmp_path / "calendar")
    assert 2026 in cal.override_days() and changed_days(cal, {}, cal.override_days()) == set()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def v1_database_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        async with pg_schema() as url:
            yield url


async def test_migration_gives_existing_deliveries_their_anchor(v1_database_url: str) -> None:
    """A store written before migration 2: first-version deliveries take the item's anchor, re-sends
    the time the update was detected."""
    db = open_database(v1_database_url)
    await db.connect()
    try:
        async with db.transaction() as tx:
            for statement in _statements(MIGRATIONS[0][1], db.dialect):
                await tx.execute(statement)
            await tx.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            await tx.execute("INSERT INTO schema_version (version) VALUES (1)")
            await tx.execute(
                "INSERT INTO items (id, source_id, guid, url, canonical_url, title, content_hash, published_at,"
                " detected_at, anchor_at, anchor_kind, version) VALUES (1, 'gov', 'g1', 'u', 'u', 't', 'h', ?, ?, ?,"
                " 'published', 2)", sh("2026-12-20 09:00"), sh("2026-12-20 09:10"), sh("2026-12-20 09:00"))
            await tx.executemany(
                "INSERT INTO item_versions (item_id, version, title, content_hash, source_id, changed_at)"
                " VALUES (1, ?, 't', 'h', 'gov', ?)", [(1, sh("2026-12-20 09:10")), (2, sh("2026-12-31 10:00"))])
            await tx.executemany(
                "INSERT INTO deliveries (id, item_id, item_version, unit_id, account_id, channel_kind,"
                " idempotency_key, state, deadline_at, created_at, updated_at)"
                " VALUES (?, 1, ?, 'u1', 'u1-site', 'static', ?, 'pending', ?, ?, ?)",
                [(1, 1, "k1", sh("2026-12-22 00:00"), sh("2026-12-20 09:10"), sh("2026-12-20 09:10")),
                 (2, 2, "k2", sh("2027-01-02 00:00"), sh("2026-12-31 10:00"), sh("2026-12-31 10:00"))])
        assert await migrate(db) == MIGRATIONS[-1][0]
        store = Store(db, FakeClock(sh("2026-12-31 12:00")))
        facts: dict[int, DeliveryFacts] = {f.id: f for f in await store.open_due(sh("2026-12-31 12:00"),
                                                                                  sh("2027-01-03 00:00"))}
        assert (facts[1].anchor_at, facts[1].anchor_kind) == (sh("2026-12-20 09:00"), "published")
        assert (facts[2].anchor_at, facts[2].anchor_kind) == (sh("2026-12-31 10:00"), "updated")
        assert await migrate(db) == MIGRATIONS[-1][0]   # idempotent
    finally:
        await db.close()


def test_update_reason_names_the_update() -> None:
    from syndicator.delays import build_reason

    f = delivery_facts(
        state="pending", deadline_at=sh("2027-01-05 00:00"), attempts=0, updated_at=sh("2026-12-31 10:00"),
        published_at=sh("2026-12-20 09:00"), detected_at=sh("2026-12-20 09:10"),
        anchor_at=sh("2026-12-31 10:00"), anchor_kind="updated")
    text = build_reason(DelayKind.OVERDUE, f, sh("2027-01-05 02:00"), None, {}, SETTINGS, WorkCalendar(), 2.0)
    assert "稿件更新后重发，按检测到更新的时间（2026-12-31 10:00）计" in text
    assert "来源发布时间早于检测时间" not in text and "上游发布时间不可信" not in text


def test_json_roundtrip_of_applied_overrides() -> None:
    from syndicator.recompute import _dump, _load

    days = {2027: (frozenset({date(2027, 1, 1)}), frozenset({date(2027, 2, 6)}))}
    assert _load(_dump(days)) == days and json.loads(_dump(days)) == {"2027": [["2027-01-01"], ["2027-02-06"]]}

