"""The store on both dialects: ingest atomicity, cross-source de-dup, EDF claims, recovery, kv."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from core.models import DeliveryState, Item
from syndicator.store import PlannedDelivery, Store, StoreKeyValue
from syndicator.store.db import open_database
from syndicator.store.items import SeenEntry
from syndicator.store.schema import MIGRATIONS, _statements, migrate
from tests.conftest import pg_schema
from tests.fakes import make_item

URL = "https://www.gov.cn/zhengce/content/202611/content_1.htm"


# The notice these tests ingest again and again; each test changes only what it is about.
notice = partial(make_item, url=URL, guid="g1", title="国务院办公厅关于印发示范文件的通知", content="<p>正文</p>",
                 content_hash="h1")


def plan(clock, n_units=3, accounts=("web", "weibo")) -> list[PlannedDelivery]:
    return [PlannedDelivery(f"u{u}", f"u{u}-{a}", a, clock.now() + timedelta(hours=u)) for u in range(n_units)
            for a in accounts]


async def test_ingest_creates_item_and_all_deliveries_once(store: Store, clock) -> None:
    item = notice()
    first = await store.ingest(item, clock.now(), "detected", plan(clock), clock.now())
    again = await store.ingest(item, clock.now(), "detected", plan(clock), clock.now())
    assert (first.status, first.deliveries) == ("created", 6)
    assert again.status == "seen"
    assert await store.state_counts() == {"pending": 6}
    keys = {d.idempotency_key for d in await store.deliveries()}
    assert len(keys) == 6


async def test_same_document_from_two_sources_is_one_item(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock), clock.now())
    # same page over http with a tracking parameter, via the provincial feed
    other = notice(source_id="province", guid="p-77",
                      url="http://WWW.gov.cn/zhengce/content/202611/content_1.htm?utm_source=rss")
    result = await store.ingest(other, clock.now(), "detected", plan(clock), clock.now())
    assert result.status == "duplicate"
    # same body text under a different URL (a reprint page upstream) is the same document too
    mirror = notice(source_id="mirror", guid="m1", url="https://www.hubei.gov.cn/zfwj/t1.shtml")
    assert (await store.ingest(mirror, clock.now(), "detected", plan(clock), clock.now())).status == "duplicate"
    assert sum((await store.state_counts()).values()) == 6
    assert await store.known_guids("province", ["p-77", "nope"]) == {"p-77"}


async def test_changed_title_is_an_update_not_a_new_item(store: Store, clock) -> None:
    created = await store.ingest(notice(), clock.now(), "detected", plan(clock), clock.now())
    resend = [PlannedDelivery("u0", "u0-web", "web", clock.now(), anchor_at=clock.now(), anchor_kind="updated")]
    updated = await store.ingest(notice(title="国务院办公厅关于印发示范文件的通知（修订）"),
                                 clock.now(), "detected", plan(clock), clock.now(), resend=resend)
    assert updated.status == "updated" and updated.item_id == created.item_id and updated.version == 2
    assert updated.deliveries == 1
    item = await store.get_item(created.item_id)
    assert item is not None and item.title.endswith("（修订）") and item.version == 2


async def test_claims_are_earliest_deadline_first_within_account_capacity(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock, 4), clock.now())
    claimed = await store.claim_due(clock.now(), "hub-1", {"u3-web": 1, "u1-weibo": 1, "u0-web": 1}, 10)
    assert [d.account_id for d in claimed] == ["u0-web", "u1-weibo", "u3-web"]
    assert all(d.state == DeliveryState.SENDING and d.attempts == 1 for d in claimed)
    # nothing is claimed twice
    again = await store.claim_due(clock.now(), "hub-2", {"u3-web": 5, "u1-weibo": 5, "u0-web": 5}, 10)
    assert again == []


async def test_retry_waits_for_next_attempt_time(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock, 1, ("web",)), clock.now())
    (d,) = await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1)
    await store.mark_retry(d.id, clock.now(), "渠道故障", clock.now() + timedelta(minutes=5))
    assert await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1) == []
    clock.advance(minutes=5)
    (again,) = await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1)
    assert again.attempts == 2 and again.last_error == "渠道故障"


async def test_sending_rows_of_a_dead_process_come_back_ambiguous(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock, 2, ("web",)), clock.now())
    claimed = await store.claim_due(clock.now(), "hub-1", {"u0-web": 1, "u1-web": 1}, 2)
    assert len(claimed) == 2
    recovered = await store.recover_orphans("hub-1", clock.now() - timedelta(minutes=10), clock.now())
    assert recovered == 2
    rows = await store.deliveries()
    assert {d.state for d in rows} == {DeliveryState.RETRYING} and all(d.ambiguous for d in rows)


async def test_release_gives_claims_back_without_counting_an_attempt(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock, 1, ("web",)), clock.now())
    (d,) = await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1)
    await store.release([d.id], clock.now())
    (back,) = await store.deliveries()
    assert back.state == DeliveryState.PENDING and back.attempts == 0


async def test_hold_and_release_account(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock, 2), clock.now())
    assert await store.hold_account("u0-weibo", clock.now(), "人工暂停") == 1
    assert await store.claim_due(clock.now(), "h", {"u0-weibo": 5}, 5) == []
    assert await store.release_account("u0-weibo", clock.now()) == 1
    assert len(await store.claim_due(clock.now(), "h", {"u0-weibo": 5}, 5)) == 1


async def test_kv_expiry_and_exclusive_lease(store: Store, clock) -> None:
    await store.kv.put("wechat:token:a", "T1", ttl_seconds=60)
    assert await store.kv.get("wechat:token:a") == "T1"
    clock.advance(61)
    assert await store.kv.get("wechat:token:a") is None
    assert await store.kv.lease("refresh:a", "hub-1", 30)
    assert not await store.kv.lease("refresh:a", "hub-2", 30)
    assert await store.kv.lease("refresh:a", "hub-1", 30)   # renewal by the holder
    clock.advance(31)
    assert await store.kv.lease("refresh:a", "hub-2", 30)   # expired: another may take it
    await store.kv.release("refresh:a", "hub-1")             # not the holder: no effect
    assert not await store.kv.lease("refresh:a", "hub-3", 30)
    await store.kv.release("refresh:a", "hub-2")
    assert await store.kv.lease("refresh:a", "hub-3", 30)


async def test_kv_recent_reads_see_other_hubs_within_max_age(store: Store, clock) -> None:
    other_hub = StoreKeyValue(store.db, clock, store.outcomes)       # a second process on the same database
    assert await store.kv.get("jpush:blocked:x", max_age_s=1) is None
    await other_hub.put("jpush:blocked:x", "until", ttl_seconds=60)
    assert await store.kv.get("jpush:blocked:x", max_age_s=1) is None      # answered from the recent read
    assert await store.kv.get("jpush:blocked:x") == "until"                 # a plain get always reads
    clock.advance(1)
    assert await store.kv.get("jpush:blocked:x", max_age_s=1) == "until"   # re-read once max_age passed
    await store.kv.put("jpush:blocked:x", "later", ttl_seconds=5)           # our own write: seen at once
    assert await store.kv.get("jpush:blocked:x", max_age_s=1) == "later"
    clock.advance(0.5)
    await other_hub.put("jpush:blocked:x", "gone", ttl_seconds=0.1)
    clock.advance(5)
    assert await store.kv.get("jpush:blocked:x", max_age_s=10) is None     # expiry holds on a recent read too


async def test_concurrent_claims_never_overlap(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock, 40, ("web",)), clock.now())
    capacity = {f"u{u}-web": 1 for u in range(40)}
    ids: list[int] = []
    for _round in range(10):
        batches = await asyncio.gather(*(store.claim_due(clock.now(), f"hub-{i}", capacity, 15) for i in range(4)))
        ids += [d.id for batch in batches for d in batch]
        if len(ids) >= 40:
            break
    assert len(ids) == len(set(ids)) == 40


@pytest.mark.parametrize("bad", ["mysql://x", "sqlite:/relative"])
def test_unknown_storage_url_is_refused(bad: str) -> None:
    from syndicator.store.db import open_database

    with pytest.raises(ValueError, match="unsupported storage url"):
        open_database(bad)


async def test_confirmation_claim_is_a_lease_not_forever(store: Store, clock) -> None:
    await store.ingest(notice(), clock.now(), "detected", plan(clock, 1, ("wechat",)), clock.now())
    (d,) = await store.claim_due(clock.now(), "hub-1", {"u0-wechat": 1}, 1)
    await store.mark_confirming(d.id, clock.now(), "publish-1", clock.now(), "标题已截短")
    (asked,) = await store.claim_confirmations(clock.now(), "hub-1", 10)
    assert asked.external_id == "publish-1" and asked.note == "标题已截短"
    # hub-1 dies while asking: nobody asks again at once, but after the lease someone does
    assert await store.claim_confirmations(clock.now(), "hub-2", 10) == []
    clock.advance(minutes=6)
    (again,) = await store.claim_confirmations(clock.now(), "hub-2", 10)
    assert again.id == d.id


# ---------------------------------------------------------------- per-source views: no flip-flop between sources

RESEND = [PlannedDelivery("u0", "u0-web", "web", datetime(2026, 11, 26, 16, tzinfo=UTC),
                          anchor_at=datetime(2026, 11, 25, 2, tzinfo=UTC), anchor_kind="updated")]


async def test_two_sources_wording_one_title_differently_do_not_take_turns(store: Store, clock) -> None:
    """The audit's repro: A says 通知, B says 通知（全文）; every poll used to make a new version and a re-send."""
    a = notice(source_id="gwy", guid="a1", title="国务院关于X的通知")
    b = notice(source_id="province", guid="b1", url=URL.replace("https:", "http:"),
                  title="国务院关于X的通知（全文）")
    first = await store.ingest(a, clock.now(), "detected", plan(clock), clock.now(), resend=RESEND)
    seen = [(await store.ingest(b, clock.now(), "detected", plan(clock), clock.now(), resend=RESEND)).status]
    for _round in range(3):
        for entry in (a, b):
            seen.append((await store.ingest(entry, clock.now(), "detected", plan(clock), clock.now(),
                                            resend=RESEND)).status)
    assert first.status == "created" and seen == ["duplicate"] + ["seen"] * 6
    item = await store.get_item(first.item_id)
    assert item is not None and (item.title, item.version) == ("国务院关于X的通知", 1)
    assert len(await store.deliveries()) == 6            # no re-send was ever planned


async def test_a_duplicate_never_rewrites_the_item_but_its_own_change_is_an_update(store: Store, clock) -> None:
    created = await store.ingest(notice(title="国务院关于X的通知", content="<p>正文甲</p>", content_hash="h-a"),
                                 clock.now(), "detected", plan(clock), clock.now())
    other = notice(source_id="province", guid="p1", title="关于X的通知（转发）", content="<p>正文乙</p>",
                      content_hash="h-b")
    assert (await store.ingest(other, clock.now(), "detected", plan(clock), clock.now())).status == "duplicate"
    item = await store.get_item(created.item_id)
    assert item is not None and (item.title, item.content, item.content_hash) == (
        "国务院关于X的通知", "<p>正文甲</p>", "h-a")
    # the province corrects its own copy's body: that is news, in the province's own view
    fixed = notice(source_id="province", guid="p1", title="关于X的通知（转发）", content="<p>正文乙（更正）</p>",
                      content_hash="h-b2")
    updated = await store.ingest(fixed, clock.now(), "detected", plan(clock), clock.now(), resend=RESEND)
    assert (updated.status, updated.version, updated.deliveries) == ("updated", 2, 1)
    item = await store.get_item(created.item_id)
    assert item is not None and (item.title, item.content, item.content_hash) == (
        "国务院关于X的通知", "<p>正文乙（更正）</p>", "h-b2")          # the body moved, the title stayed
    # the original source, unchanged, does not take the item back
    again = await store.ingest(notice(title="国务院关于X的通知", content="<p>正文甲</p>", content_hash="h-a"),
                               clock.now(), "detected", plan(clock), clock.now(), resend=RESEND)
    assert again.status == "seen" and again.version == 2
    # the original source changing its title is an update again
    renamed_a = notice(title="国务院关于X的通知（修订）", content="<p>正文甲</p>", content_hash="h-a")
    renamed = await store.ingest(renamed_a, clock.now(), "detected", plan(clock), clock.now(), resend=RESEND)
    assert (renamed.status, renamed.version) == ("updated", 3)
    item = await store.get_item(created.item_id)
    assert item is not None and (item.title, item.content_hash) == ("国务院关于X的通知（修订）", "h-b2")


async def test_a_list_entry_without_body_is_no_body_change(store: Store, clock) -> None:
    """An article source's known entry arrives with its body cleared: not an edit, and the next recheck
    with the same body is not one either."""
    created = await store.ingest(notice(content="<p>正文</p>", content_hash="h1"), clock.now(), "detected",
                                 plan(clock), clock.now())
    assert (await store.ingest(notice(content="", content_hash="title-hash"), clock.now(), "detected",
                               plan(clock), clock.now(), resend=RESEND)).status == "seen"
    assert (await store.ingest(notice(content="<p>正文</p>", content_hash="h1"), clock.now(), "detected",
                               plan(clock), clock.now(), resend=RESEND)).status == "seen"
    # an item stored from its list only (no body) that later gets one: an update
    bare = notice(guid="g2", url=URL + "?id=2", content="", content_hash="marker-2")
    first = await store.ingest(bare, clock.now(), "detected", plan(clock), clock.now())
    filled = notice(guid="g2", url=URL + "?id=2", content="<p>正文二</p>", content_hash="h2")
    result = await store.ingest(filled, clock.now(), "detected", plan(clock), clock.now(), resend=RESEND)
    assert (first.status, result.status, result.version) == ("created", "updated", 2)
    assert created.item_id != first.item_id


async def test_seen_entry_remembers_the_raw_hash(store: Store, clock) -> None:
    assert await store.seen_entry("gwy", "g1") is None
    created = await store.ingest(notice(), clock.now(), "detected", plan(clock), clock.now(), raw_hash="r1")
    assert await store.seen_entry("gwy", "g1") == SeenEntry(created.item_id, 1, "r1")
    await store.ingest(notice(title="新标题"), clock.now(), "detected", plan(clock), clock.now(),
                       resend=RESEND, raw_hash="r2")
    assert await store.seen_entry("gwy", "g1") == SeenEntry(created.item_id, 2, "r2")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def old_database_url(request: pytest.FixtureRequest, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        async with pg_schema() as url:
            yield url


async def test_migration_backfills_each_sources_own_view(old_database_url: str, clock) -> None:
    """A store that flip-flopped before migration 4 (versions alternating A / B): each source's view is its
    latest version; a duplicate that never made a version is a baseline, so nothing flips after the upgrade."""
    db = open_database(old_database_url)
    await db.connect()
    t = clock.now()
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for version, sql in [m for m in MIGRATIONS if m[0] < 4]:
                for statement in _statements(sql, db.dialect):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)
            await tx.execute(
                "INSERT INTO items (id, source_id, guid, url, canonical_url, title, content, content_hash,"
                " detected_at, anchor_at, anchor_kind, version) VALUES (1, 'a', 'a1', ?, '//www.gov.cn/1.htm',"
                " 'B的标题', '<p>正文</p>', 'hb', ?, ?, 'detected', 4)", URL, t, t)
            await tx.executemany(
                "INSERT INTO item_sources (source_id, guid, item_id, url, seen_at) VALUES (?, ?, 1, ?, ?)",
                [("a", "a1", URL, t), ("b", "b1", URL, t), ("c", "c1", URL, t)])
            await tx.executemany(
                "INSERT INTO item_versions (item_id, version, title, content_hash, source_id, changed_at)"
                " VALUES (1, ?, ?, ?, ?, ?)", [(1, "A的标题", "ha", "a", t), (2, "B的标题", "hb", "b", t),
                                               (3, "A的标题", "ha", "a", t), (4, "B的标题", "hb", "b", t)])
        assert await migrate(db) == MIGRATIONS[-1][0]
        views = {r["source_id"]: (r["title"], r["content_hash"], r["raw_hash"])
                 for r in await db.fetch("SELECT * FROM item_sources")}
        assert views == {"a": ("A的标题", "ha", None), "b": ("B的标题", "hb", None), "c": (None, None, None)}
        (row,) = await db.fetch("SELECT published_raw, date_problem FROM items")
        assert (row["published_raw"], row["date_problem"]) == ("", None)
        store = Store(db, clock)

        def seen_as(source: str, guid: str, title: str, chash: str) -> Item:
            return Item(source_id=source, guid=guid, url=URL, title=title, detected_at=t, content="<p>x</p>",
                        canonical_url="//www.gov.cn/1.htm", content_hash=chash)

        for _round in range(2):
            for entry in (seen_as("a", "a1", "A的标题", "ha"), seen_as("b", "b1", "B的标题", "hb"),
                          seen_as("c", "c1", "C的标题", "hc")):
                assert (await store.ingest(entry, t, "detected", [], t, resend=RESEND)).status == "seen"
        # the unknown view became C's baseline; a change in it now counts
        changed = await store.ingest(seen_as("c", "c1", "C的新标题", "hc"), t, "detected", [], t, resend=RESEND)
        assert (changed.status, changed.version) == ("updated", 5)
        assert await migrate(db) == MIGRATIONS[-1][0]   # idempotent
    finally:
        await db.close()


async def test_a_migration_numbered_below_the_newest_applied_still_runs(old_database_url: str) -> None:
    """Issues land in any order: a database that already has 14 but not 6 (fenced claims) gets 6 on upgrade."""
    db = open_database(old_database_url)
    await db.connect()
    try:
        async with db.transaction() as tx:
            await tx.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for version, sql in [m for m in MIGRATIONS if m[0] != 6]:
                for statement in _statements(sql, db.dialect):
                    await tx.execute(statement)
                await tx.execute("INSERT INTO schema_version (version) VALUES (?)", version)
        assert await migrate(db) == MIGRATIONS[-1][0]
        assert await db.fetchval("SELECT COUNT(*) FROM hubs") == 0            # the table 6 creates exists now
        versions = [r["version"] for r in await db.fetch("SELECT version FROM schema_version")]
        assert sorted(versions) == [v for v, _ in MIGRATIONS]
    finally:
        await db.close()
