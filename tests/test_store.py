"""The store on both dialects: ingest atomicity, cross-source de-dup, EDF claims, recovery, kv."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from syndicator.models import DeliveryState, Item, SourceHealth
from syndicator.store import PlannedDelivery, Store


def make_item(clock, *, source="gwy", guid="g1", url="https://www.gov.cn/zhengce/content/202611/content_1.htm",
              title="国务院办公厅关于印发示范文件的通知", content="<p>正文</p>", chash="h1") -> Item:
    from feeds.identity import canonical_url

    return Item(source_id=source, guid=guid, url=url, title=title, detected_at=clock.now(), content=content,
                canonical_url=canonical_url(url), content_hash=chash)


def plan(clock, n_units=3, accounts=("web", "weibo")) -> list[PlannedDelivery]:
    return [PlannedDelivery(f"u{u}", f"u{u}-{a}", a, clock.now() + timedelta(hours=u)) for u in range(n_units)
            for a in accounts]


async def test_ingest_creates_item_and_all_deliveries_once(store: Store, clock) -> None:
    item = make_item(clock)
    first = await store.ingest(item, clock.now(), "detected", plan(clock), clock.now())
    again = await store.ingest(item, clock.now(), "detected", plan(clock), clock.now())
    assert (first.status, first.deliveries) == ("created", 6)
    assert again.status == "seen"
    assert await store.state_counts() == {"pending": 6}
    keys = {d.idempotency_key for d in await store.deliveries()}
    assert len(keys) == 6


async def test_same_document_from_two_sources_is_one_item(store: Store, clock) -> None:
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock), clock.now())
    # same page over http with a tracking parameter, via the provincial feed
    other = make_item(clock, source="province", guid="p-77",
                      url="http://WWW.gov.cn/zhengce/content/202611/content_1.htm?utm_source=rss")
    result = await store.ingest(other, clock.now(), "detected", plan(clock), clock.now())
    assert result.status == "duplicate"
    # same body text under a different URL (a reprint page upstream) is the same document too
    mirror = make_item(clock, source="mirror", guid="m1", url="https://www.hubei.gov.cn/zfwj/t1.shtml")
    assert (await store.ingest(mirror, clock.now(), "detected", plan(clock), clock.now())).status == "duplicate"
    assert sum((await store.state_counts()).values()) == 6
    assert await store.known_guids("province", ["p-77", "nope"]) == {"p-77"}


async def test_changed_title_is_an_update_not_a_new_item(store: Store, clock) -> None:
    created = await store.ingest(make_item(clock), clock.now(), "detected", plan(clock), clock.now())
    resend = [PlannedDelivery("u0", "u0-web", "web", clock.now(), anchor_at=clock.now(), anchor_kind="updated")]
    updated = await store.ingest(make_item(clock, title="国务院办公厅关于印发示范文件的通知（修订）"),
                                 clock.now(), "detected", plan(clock), clock.now(), resend=resend)
    assert updated.status == "updated" and updated.item_id == created.item_id and updated.version == 2
    assert updated.deliveries == 1
    item = await store.get_item(created.item_id)
    assert item is not None and item.title.endswith("（修订）") and item.version == 2


async def test_claims_are_earliest_deadline_first_within_account_capacity(store: Store, clock) -> None:
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock, 4), clock.now())
    claimed = await store.claim_due(clock.now(), "hub-1", {"u3-web": 1, "u1-weibo": 1, "u0-web": 1}, 10)
    assert [d.account_id for d in claimed] == ["u0-web", "u1-weibo", "u3-web"]
    assert all(d.state == DeliveryState.SENDING and d.attempts == 1 for d in claimed)
    # nothing is claimed twice
    again = await store.claim_due(clock.now(), "hub-2", {"u3-web": 5, "u1-weibo": 5, "u0-web": 5}, 10)
    assert again == []


async def test_retry_waits_for_next_attempt_time(store: Store, clock) -> None:
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock, 1, ("web",)), clock.now())
    (d,) = await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1)
    await store.mark_retry(d.id, clock.now(), "渠道故障", clock.now() + timedelta(minutes=5))
    assert await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1) == []
    clock.advance(minutes=5)
    (again,) = await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1)
    assert again.attempts == 2 and again.last_error == "渠道故障"


async def test_sending_rows_of_a_dead_process_come_back_ambiguous(store: Store, clock) -> None:
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock, 2, ("web",)), clock.now())
    claimed = await store.claim_due(clock.now(), "hub-1", {"u0-web": 1, "u1-web": 1}, 2)
    assert len(claimed) == 2
    recovered = await store.recover_orphans("hub-1", clock.now() - timedelta(minutes=10), clock.now())
    assert recovered == 2
    rows = await store.deliveries()
    assert {d.state for d in rows} == {DeliveryState.RETRYING} and all(d.ambiguous for d in rows)


async def test_release_gives_claims_back_without_counting_an_attempt(store: Store, clock) -> None:
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock, 1, ("web",)), clock.now())
    (d,) = await store.claim_due(clock.now(), "h", {"u0-web": 1}, 1)
    await store.release([d.id], clock.now())
    (back,) = await store.deliveries()
    assert back.state == DeliveryState.PENDING and back.attempts == 0


async def test_hold_and_release_account(store: Store, clock) -> None:
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock, 2), clock.now())
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


async def test_concurrent_claims_never_overlap(store: Store, clock) -> None:
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock, 40, ("web",)), clock.now())
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
    await store.ingest(make_item(clock), clock.now(), "detected", plan(clock, 1, ("wechat",)), clock.now())
    (d,) = await store.claim_due(clock.now(), "hub-1", {"u0-wechat": 1}, 1)
    await store.mark_confirming(d.id, clock.now(), "publish-1", clock.now(), "标题已截短")
    (asked,) = await store.claim_confirmations(clock.now(), "hub-1", 10)
    assert asked.external_id == "publish-1" and asked.note == "标题已截短"
    # hub-1 dies while asking: nobody asks again at once, but after the lease someone does
    assert await store.claim_confirmations(clock.now(), "hub-2", 10) == []
    clock.advance(minutes=6)
    (again,) = await store.claim_confirmations(clock.now(), "hub-2", 10)
    assert again.id == d.id


async def test_due_sources_are_the_never_polled_and_the_overdue(store: Store, clock) -> None:
    now = clock.now()
    await store.save_source_health(SourceHealth("later", next_check_at=now + timedelta(minutes=5), etag='"v1"'))
    await store.save_source_health(SourceHealth("due", next_check_at=now - timedelta(seconds=1), etag='"v2"',
                                                consecutive_errors=3))
    due = await store.due_source_health(["never", "due", "later"], now)
    assert [h.source_id for h in due] == ["never", "due"]
    assert due[0] == SourceHealth("never")
    assert (due[1].etag, due[1].consecutive_errors) == ('"v2"', 3)
    assert await store.due_source_health(["later"], now) == []
    assert [h.source_id for h in await store.due_source_health(["later"], now + timedelta(minutes=5))] == ["later"]
