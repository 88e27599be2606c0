"""The queue at province scale: claims that cost what their candidates cost, outcomes that share commits."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.models import DeliveryState
from syndicator.dispatch import HourlyLimit
from syndicator.store import Capacity, Store
from syndicator.store.group_commit import GroupCommit
from tests.fakes import make_item
from tests.syndicator.test_store import plan


async def _ingest(store: Store, clock, n_units: int, accounts=("web", "weibo")) -> None:
    await store.ingest(make_item(), clock.now(), "detected", plan(clock, n_units, accounts), clock.now())


async def test_closed_accounts_are_never_claimed_and_do_not_starve_the_rest(store: Store, clock) -> None:
    await _ingest(store, clock, 30)
    # u0..u9 have the earliest deadlines; closing their accounts must not leave the claim empty-handed.
    closed = frozenset(f"u{u}-{a}" for u in range(10) for a in ("web", "weibo"))
    claimed = await store.claim_due(clock.now(), "h", Capacity(room=lambda a: 1, closed=closed), 8)
    assert len(claimed) == 8
    assert not {d.account_id for d in claimed} & closed
    assert [d.unit_id for d in claimed] == sorted((d.unit_id for d in claimed), key=lambda u: int(u[1:]))
    assert claimed[0].unit_id == "u10"      # earliest deadline among the open accounts


async def test_room_per_account_is_respected_across_passes(store: Store, clock) -> None:
    # One account holds the 100 earliest deadlines; it may take 2, and the other accounts fill the rest.
    await _ingest(store, clock, 1, accounts=("web",))
    for n in range(2, 101):
        await store.ingest(make_item(guid=f"g{n}", url=f"https://www.gov.cn/c/{n}.htm", content_hash=f"h{n}"),
                           clock.now(), "detected", plan(clock, 1, ("web",)), clock.now())
    await store.ingest(make_item(guid="late", url="https://www.gov.cn/c/late.htm", content_hash="late"),
                       clock.now(), "detected",
                       [p for p in plan(clock, 6, ("web",)) if p.unit_id != "u0"], clock.now())
    room = {"u0-web": 2}
    claimed = await store.claim_due(clock.now(), "h", Capacity(room=lambda a: room.get(a, 1)), 10)
    by_account: dict[str, int] = {}
    for d in claimed:
        by_account[d.account_id] = by_account.get(d.account_id, 0) + 1
    assert by_account == {"u0-web": 2, "u1-web": 1, "u2-web": 1, "u3-web": 1, "u4-web": 1, "u5-web": 1}


async def test_a_claim_may_name_more_accounts_than_a_driver_takes_arguments(store: Store, clock) -> None:
    await _ingest(store, clock, 3)
    many = frozenset(f"x{i}-web" for i in range(40_000)) | {"u0-web"}
    claimed = await store.claim_due(clock.now(), "h", Capacity(room=lambda a: 5, closed=many), 10)
    assert {d.account_id for d in claimed} == {"u0-weibo", "u1-web", "u1-weibo", "u2-web", "u2-weibo"}


async def test_outcomes_arriving_together_share_one_commit(store: Store, clock) -> None:
    await _ingest(store, clock, 20)
    claimed = await store.claim_due(clock.now(), "h", Capacity(room=lambda a: 1), 40)
    before = store.outcomes.commits
    await asyncio.gather(*(store.mark_delivered(d.id, clock.now(), f"ext-{d.id}", None) for d in claimed))
    assert (await store.state_counts()) == {"delivered": 40}
    # The first writer commits alone; everything queued while it ran goes in the next transaction.
    assert store.outcomes.commits - before <= 3
    rows = await store.db.fetch("SELECT outcome, finished_at FROM attempts")
    assert len(rows) == 40 and all(r["outcome"] == "delivered" and r["finished_at"] for r in rows)


async def test_one_bad_outcome_does_not_fail_the_others(sqlite_store: Store, clock) -> None:
    store = sqlite_store
    await _ingest(store, clock, 2)
    claimed = await store.claim_due(clock.now(), "h", Capacity(room=lambda a: 1), 4)
    bad = store.outcomes.run([("UPDATE no_such_table SET x = 1", ())])
    results = await asyncio.gather(bad, *(store.mark_failed(d.id, clock.now(), "原因") for d in claimed),
                                   return_exceptions=True)
    assert isinstance(results[0], Exception) and results[1:] == [True] * 4
    assert (await store.state_counts()) == {"failed": 4}


async def test_a_writer_cancelled_before_its_commit_is_withdrawn(sqlite_store: Store, clock) -> None:
    store = sqlite_store
    await _ingest(store, clock, 1)
    (d1, d2) = await store.claim_due(clock.now(), "h", Capacity(room=lambda a: 1), 2)
    commits = GroupCommit(store.db)
    async with commits._lock:        # a commit is under way: both writers queue behind it
        first = asyncio.create_task(commits.run([("UPDATE deliveries SET state = 'failed' WHERE id = ?", (d1.id,))]))
        second = asyncio.create_task(commits.run([("UPDATE deliveries SET state = 'failed' WHERE id = ?", (d2.id,))]))
        await asyncio.sleep(0)
        first.cancel()
        await asyncio.sleep(0)
    await second
    with pytest.raises(asyncio.CancelledError):
        await first
    states = {d.id: d.state for d in await store.deliveries()}
    assert states == {d1.id: DeliveryState.SENDING, d2.id: DeliveryState.FAILED}


def test_hourly_limit_tracks_full_accounts_without_walking_them_all(clock) -> None:
    now = clock.now()
    limits = HourlyLimit({"weibo": 2, "site": None})
    limits.record("weibo", now)
    assert limits.full(now) == set()
    limits.record("weibo", now + timedelta(minutes=10))
    for _ in range(100):
        limits.record("site", now)
    assert limits.full(now + timedelta(minutes=10)) == {"weibo"}
    assert limits.full(now + timedelta(minutes=59)) == {"weibo"}
    assert limits.full(now + timedelta(minutes=60)) == set()       # the first send aged out: room for one
    assert limits.room("weibo", now + timedelta(minutes=60)) == 1
    # another hub's attempts count too
    limits.absorb([(7, "weibo", now + timedelta(minutes=61))], now + timedelta(minutes=61))
    assert limits.full(now + timedelta(minutes=61)) == {"weibo"}


async def test_a_delivery_for_an_account_removed_from_the_config_is_held_for_a_person(
        sqlite_store: Store, clock) -> None:
    from syndicator.config import HubSettings
    from syndicator.dispatch import Dispatcher

    await _ingest(sqlite_store, clock, 1, accounts=("gone",))

    async def alert(subject: str, message: str) -> None: ...

    dispatcher = Dispatcher(HubSettings(), sqlite_store, {}, clock, alert)     # no account bound any more
    await dispatcher.start()
    await dispatcher.dispatch_once()
    await dispatcher.drain(5)
    (d,) = await sqlite_store.deliveries()
    assert d.state is DeliveryState.HELD and d.last_error == "账号已从配置中移除，待人工处理"


class _GatedChannel:
    """A channel whose sends wait for a gate, counting how many run at once."""

    rate_per_hour = None

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.running = self.most = self.calls = 0

    async def publish(self, item, unit, key):
        from channels.base import Receipt

        self.running += 1
        self.calls += 1
        self.most = max(self.most, self.running)
        try:
            await self.gate.wait()
        finally:
            self.running -= 1
        return Receipt(external_id=f"ext-{key[:8]}")


def _dispatcher(store: Store, clock, n_units: int, workers: int):
    from core.models import UnitRef
    from syndicator.config import HubSettings
    from syndicator.dispatch import Binding, Dispatcher

    async def alert(subject: str, message: str) -> None: ...

    channel = _GatedChannel()
    bindings = {f"u{u}-web": Binding(channel, UnitRef(f"u{u}", f"单位{u}"), 1) for u in range(n_units)}  # type: ignore[arg-type]
    return Dispatcher(HubSettings(workers=workers), store, bindings, clock, alert), channel


async def test_claims_run_ahead_of_the_sends_but_sends_never_exceed_workers(sqlite_store: Store, clock) -> None:
    await _ingest(sqlite_store, clock, 10, accounts=("web",))
    dispatcher, channel = _dispatcher(sqlite_store, clock, 10, workers=2)
    await dispatcher.start()
    assert await dispatcher.dispatch_once() == 4                 # 2 sending + 2 claimed ahead, waiting for a slot
    await asyncio.sleep(0.01)
    assert channel.running == 2 and dispatcher.in_flight == 2
    channel.gate.set()
    while await sqlite_store.state_counts() != {"delivered": 10}:
        await dispatcher.dispatch_once()
        await dispatcher.wait_idle()
    assert channel.most == 2
    # claim order is deadline order, and the waiting ones kept it
    done = sorted(await sqlite_store.deliveries(), key=lambda d: d.delivered_at)
    assert [d.unit_id for d in done] == [f"u{u}" for u in range(10)]


async def test_stopping_gives_claimed_but_unstarted_deliveries_back(sqlite_store: Store, clock) -> None:
    await _ingest(sqlite_store, clock, 6, accounts=("web",))
    dispatcher, channel = _dispatcher(sqlite_store, clock, 6, workers=2)
    await dispatcher.start()
    await dispatcher.dispatch_once()                             # u0, u1 sending; u2, u3 waiting
    await asyncio.sleep(0.01)
    stopping = asyncio.create_task(dispatcher.drain(5))
    await asyncio.sleep(0.01)
    channel.gate.set()                                           # the two running sends finish within the grace
    await stopping
    by_unit = {d.unit_id: d for d in await sqlite_store.deliveries()}
    assert {u for u, d in by_unit.items() if d.state is DeliveryState.DELIVERED} == {"u0", "u1"}
    assert all(by_unit[u].state is DeliveryState.PENDING and by_unit[u].attempts == 0 for u in ("u2", "u3", "u4"))
    assert channel.most == 2


def test_a_stale_claim_must_outlast_a_wait_a_send_and_its_outcome() -> None:
    from pydantic import ValidationError

    from syndicator.config import HubSettings

    with pytest.raises(ValidationError, match="twice send_timeout_seconds plus 5 s"):
        HubSettings(send_timeout_seconds=60, stale_claim_seconds=125)     # a wait, a send (lookup included), no room
    assert HubSettings(send_timeout_seconds=60, stale_claim_seconds=126).stale_claim_seconds == 126
    with pytest.raises(ValidationError, match="heartbeat_timeout_seconds"):
        HubSettings(heartbeat_seconds=10, heartbeat_timeout_seconds=20)
    # the stale-claim check follows the window: 5 % of it, between 1 s and one heartbeat
    assert HubSettings().stale_check_interval == 5
    assert HubSettings(send_timeout_seconds=10, stale_claim_seconds=30).stale_check_interval == 1.5
    assert HubSettings(send_timeout_seconds=1, stale_claim_seconds=10).stale_check_interval == 1
    assert HubSettings(stale_check_seconds=2).stale_check_interval == 2


async def test_a_send_slot_is_free_while_the_previous_outcome_is_recorded(sqlite_store: Store, clock,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    await _ingest(sqlite_store, clock, 2, accounts=("web",))
    dispatcher, channel = _dispatcher(sqlite_store, clock, 2, workers=1)
    channel.gate.set()
    store_slow = asyncio.Event()
    real = sqlite_store.mark_delivered

    async def slow_mark_delivered(*args, **kw):
        await store_slow.wait()          # the store is busy: the first outcome is not recorded yet
        return await real(*args, **kw)

    monkeypatch.setattr(sqlite_store, "mark_delivered", slow_mark_delivered)
    await dispatcher.start()
    await dispatcher.dispatch_once()
    for _ in range(400):                 # the store's thread answers the item reads; no fixed wait
        if channel.calls == 2:
            break
        await asyncio.sleep(0.005)
    assert channel.calls == 2 and channel.most == 1    # the second send went out on the one slot already
    assert dispatcher.in_flight == 0 and dispatcher.claimed == 2     # both outcomes still being recorded
    store_slow.set()
    await dispatcher.wait_idle()
    assert await sqlite_store.state_counts() == {"delivered": 2}


async def test_after_a_province_sized_ingest_the_claim_walks_the_open_index(store: Store, clock) -> None:
    from syndicator.store.items import BULK_DELIVERIES

    await _ingest(store, clock, BULK_DELIVERIES + 200, accounts=("web",))
    # The candidate query of claim_due, as each planner sees it: no sort over every open delivery.
    table = store.db.using_index("deliveries", "deliveries_open_due")
    query = (f"SELECT id, account_id FROM {table} WHERE state IN ('pending', 'retrying')"
             " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY deadline_at, id LIMIT 80")
    if store.db.dialect == "postgres":
        plan = "\n".join(r["QUERY PLAN"] for r in await store.db.fetch("EXPLAIN " + query, clock.now()))
    else:
        plan = "\n".join(str(r["detail"]) for r in await store.db.fetch("EXPLAIN QUERY PLAN " + query, clock.now()))
    assert "deliveries_open_due" in plan and "Sort" not in plan and "TEMP B-TREE" not in plan, plan
