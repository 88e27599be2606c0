"""Store queries behind the dashboard's search, paging and alert pages, on SQLite and PostgreSQL: title
search treats LIKE wildcards literally, counts match listings, offsets page, alerts are looked up and the
actors of the audit log listed."""

from __future__ import annotations

from datetime import timedelta

from syndicator.store import Store
from tests.fakes import make_item
from tests.syndicator.test_store import plan


async def test_delivery_search_count_and_paging(store: Store, clock) -> None:
    titles = ["国务院关于100%完成任务的通知", "国务院关于a_b试点的通知", "湖北省人民政府关于优化营商环境的意见"]
    for n, title in enumerate(titles):
        item = make_item(guid=f"g{n}", url=f"https://www.gov.cn/zhengce/{n}.htm", title=title, content_hash=f"h{n}")
        await store.ingest(item, clock.now(), "detected", plan(clock), clock.now())
    assert await store.count_deliveries() == 18
    assert await store.count_deliveries(title="国务院") == 12
    assert await store.count_deliveries(title="100%") == 6 and await store.count_deliveries(title="%") == 6
    assert await store.count_deliveries(title="a_b") == 6 and await store.count_deliveries(title="_") == 6
    assert await store.count_deliveries(title="\\") == 0
    assert await store.count_deliveries(title="国务院", unit_id="u1", states=["pending"]) == 4
    assert await store.count_deliveries(unit_id="u2", account_id="u2-web") == 3
    pages = [await store.deliveries(limit=5, offset=o) for o in (0, 5, 10, 15)]
    ids = [d.id for p in pages for d in p]
    assert len(ids) == 18 == len(set(ids)) and [len(p) for p in pages] == [5, 5, 5, 3]
    assert ids == [d.id for d in await store.deliveries()]
    assert await store.waiting_on_blocked_accounts() == 0
    await store.set_account_state("u1-weibo", "needs_reauth", "授权过期", clock.now())
    await store.set_account_state("u2-web", "paused", "年审", clock.now())
    await store.set_account_state("u0-web", "active", None, clock.now())
    assert await store.hold_account("u1-weibo", clock.now(), "授权过期") == 3
    assert await store.waiting_on_blocked_accounts() == 3          # u2-web's three; u1-weibo's are held


async def test_alert_lookup_and_actors(store: Store, clock) -> None:
    now = clock.now()
    first = await store.add_alert("ezfgw-weibo", "账号授权失效", now, category="account", unit_id="ezfgw",
                                  account_id="ezfgw-weibo")
    await store.add_alert("operator:网页用户 甲", "网页用户 甲 恢复渠道账号 ezfgw-weibo", now, kind="action")
    await store.add_alert("operator:微信 乙", "微信 乙 跳过投递 #3：已发布", now - timedelta(days=2), kind="action")
    await store.add_alert("operator:网页用户 甲", "网页用户 甲 将投递 #4 重新排队", now, kind="action")
    row = await store.get_alert(first)
    assert row is not None and (row["kind"], row["account_id"], row["acked_at"]) == ("alert", "ezfgw-weibo", None)
    assert await store.get_alert(first + 1000) is None
    assert sorted(await store.alert_subjects("action")) == ["operator:微信 乙", "operator:网页用户 甲"]
    assert await store.alert_subjects("alert") == ["ezfgw-weibo"]
    mine, total = await store.alerts(kind="action", subject="operator:网页用户 甲")
    assert total == 2 and [a["message"] for a in mine] == ["网页用户 甲 将投递 #4 重新排队",
                                                           "网页用户 甲 恢复渠道账号 ezfgw-weibo"]
    recent, total = await store.alerts(kind="action", since=now - timedelta(days=1), text="投递")
    assert total == 1 and recent[0]["message"].endswith("重新排队")
