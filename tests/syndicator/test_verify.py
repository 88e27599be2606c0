"""Live verification (核验) end to end through the sandbox: upstream → hub → unit's site / Weibo / JPush → is it
publicly visible? Time moves with the ``clock`` fixture only."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from core.fetch import Fetcher, FetchResult
from core.models import Delivery
from sandbox import cms as cms_box
from sandbox import jpush as jpush_box
from sandbox import weibo as weibo_box
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from syndicator.app import Hub
from syndicator.config import VerifySettings
from syndicator.metrics import render_metrics
from syndicator.report import format_report, monthly_report
from syndicator.store.verify import VerifyTask
from syndicator.verify.base import find_item, normalise
from syndicator.verify.checkers import checker_for
from syndicator.verify.fetchers import HostRouted
from syndicator.verify.worker import Verifier
from syndicator.web import _delivery_json
from tests.conftest import pg_schema
from tests.hub_support import drain, hub_settings, rss_source
from tests.syndicator.test_config_cli import write
from tests.syndicator.test_config_fields import problems

TITLE = "国务院办公厅关于印发《政务公开工作要点》的通知"
TOKEN = "tok-verify"


def site_app(root: Path) -> web.Application:
    """A unit's web server: serves ``root`` under /zzbz/ only (the directory of u1 is not served at all)."""

    def read(rel: str) -> bytes | None:
        path = (root / rel).resolve()
        return path.read_bytes() if root.resolve() in path.parents and path.is_file() else None

    async def page(request: web.Request) -> web.StreamResponse:
        rel = request.match_info["path"] or "index.html"
        body = await asyncio.to_thread(read, rel)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/zzbz/{path:.*}", page)
    return app


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def world(request, serve, tmp_path, clock):
    async with contextlib.AsyncExitStack() as stack:
        url = await stack.enter_async_context(pg_schema()) if request.param == "postgres" else None
        async for w in _world(serve, tmp_path, clock, url):
            yield w


async def _world(serve, tmp_path, clock, storage_url):
    state = UpstreamState()
    upstream = await serve(build_upstream(state))
    site = tmp_path / "site"
    (site / "u0").mkdir(parents=True)
    site_url = await serve(site_app(site / "u0"))
    weibo_app = weibo_box.build_app(tokens={TOKEN: "example.gov.cn"})
    weibo = await serve(weibo_app)
    jpush = await serve(jpush_box.build_app(apps={DEMO_SECRETS["jpush_app_key"]: DEMO_SECRETS["jpush_master_secret"]}))
    units = [
        {"id": "u0", "name": "单位0", "accounts": [
            {"id": "u0-site", "kind": "static",
             "options": {"directory": str(site / "u0"), "public_url": f"{site_url}/zzbz/"}}]},
        {"id": "u1", "name": "单位1", "accounts": [     # exported, but the site does not serve this directory
            {"id": "u1-site", "kind": "static",
             "options": {"directory": str(site / "u1"), "public_url": f"{site_url}/u1/"}}]},
        {"id": "u2", "name": "单位2", "accounts": [
            {"id": "u2-weibo", "kind": "weibo", "base_url": weibo, "credentials": {"access_token": TOKEN},
             "options": {"safe_domain": "example.gov.cn", "rip": "203.0.113.10",
                         "link_template": "https://www.example.gov.cn/zzbz/{item_id}"}},
            {"id": "u2-app", "kind": "push", "base_url": jpush,
             "credentials": {"app_key": DEMO_SECRETS["jpush_app_key"],
                             "master_secret": DEMO_SECRETS["jpush_master_secret"]}}]},
    ]
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units,
                            storage_url=storage_url)
    settings.verify.recheck_days = 3
    state.publish(TITLE, feeds={"gwy"})
    async with Hub(settings, clock=clock) as hub:
        assert sum([await hub.watcher.poll(s) for s in hub.watcher.sources()]) == 1
        await drain(hub)
        yield {"hub": hub, "weibo": weibo, "weibo_app": weibo_app, "state": state}


async def delivery(hub: Hub, account: str) -> Delivery:
    (d,) = await hub.store.deliveries(account_id=account)
    return d


async def test_served_page_is_verified_with_proof_and_unserved_one_goes_late(world, clock) -> None:
    hub: Hub = world["hub"]
    assert (await delivery(hub, "u0-site")).verify_state == "pending"
    assert await hub.verifier.drain() == 4                # every delivery checked once right after delivery
    seen, unseen = await delivery(hub, "u0-site"), await delivery(hub, "u1-site")
    assert seen.verify_state == "verified" and unseen.verify_state == "pending"
    [proof] = await hub.store.verifications(seen.id)
    assert proof["outcome"] == "seen" and proof["http_status"] == 200 and proof["url"] == seen.external_url
    assert proof["matched"].startswith("标题") and len(proof["page_hash"]) == 64
    [miss] = await hub.store.verifications(unseen.id)
    assert miss["outcome"] == "absent" and miss["http_status"] == 404 and "HTTP 404" in miss["reason"]

    # retried on the schedule (1, 5, 15, 60 min, hourly), never late before the deadline
    clock.advance(seconds=60)
    assert await hub.verifier.drain() == 1
    assert not [r for r in await hub.monitor.scan() if r.kind.value == "not_visible"]
    clock.advance(seconds=3 * 86400)                      # past the deadline (one working day)
    await hub.verifier.drain()
    unseen = await delivery(hub, "u1-site")
    assert unseen.state.value == "delivered" and unseen.verify_state == "not_visible"
    records = [r for r in await hub.monitor.scan() if r.kind.value == "not_visible"]
    assert [r.delivery_id for r in records] == [unseen.id]
    assert records[0].reason.startswith("已发送但公开页面未见") and "HTTP 404" in records[0].reason
    assert records[0].late_clock_hours > 0
    assert not [r for r in await hub.monitor.scan() if r.kind.value == "not_visible"]    # once
    alerts = [a["message"] for a in await hub.store.recent_alerts(50)]
    assert any("已发送但公开页面未见" in m and "u1" in m for m in alerts)
    assert (await delivery(hub, "u0-site")).verify_state == "verified"      # still there at its daily re-check


async def test_weibo_post_deleted_after_delivery_raises_an_alert(world, clock) -> None:
    hub: Hub = world["hub"]
    await hub.verifier.drain()
    post = await delivery(hub, "u2-weibo")
    assert post.verify_state == "verified"
    [proof] = await hub.store.verifications(post.id)
    assert proof["api_json"]["idstr"] == post.external_id and proof["api_json"]["visible"]["type"] == 0
    async with aiohttp.ClientSession() as session, session.post(f"{world['weibo']}/_sandbox/delete",
                                                                json={"id": post.external_id}) as resp:
        assert resp.status == 200
    clock.advance(seconds=86400)
    await hub.verifier.drain()
    post = await delivery(hub, "u2-weibo")
    assert post.verify_state == "gone"
    last = (await hub.store.verifications(post.id))[-1]
    assert last["outcome"] == "absent" and last["api_json"]["error_code"] == 20101
    alerts = [a["message"] for a in await hub.store.recent_alerts(50)]
    assert any("已发布的转载在公开页面消失" in m and TITLE in m for m in alerts)
    checks = len(await hub.store.verifications(post.id))
    clock.advance(seconds=86400)
    await hub.verifier.drain()
    assert len(await hub.store.verifications(post.id)) == checks          # gone: no more checks, one alert


async def test_weibo_token_trouble_is_a_failed_check_not_a_disappearance(world, clock) -> None:
    hub: Hub = world["hub"]
    await hub.verifier.drain()
    async with aiohttp.ClientSession() as session, session.post(f"{world['weibo']}/_sandbox/revoke",
                                                                json={"token": TOKEN}) as resp:
        assert resp.status == 200
    clock.advance(seconds=86400)
    await hub.verifier.drain()
    post = await delivery(hub, "u2-weibo")
    assert post.verify_state == "verified"
    last = (await hub.store.verifications(post.id))[-1]
    assert last["outcome"] == "error" and "21319" in last["reason"]


async def test_jpush_is_unverifiable_and_says_why(world, clock) -> None:
    hub: Hub = world["hub"]
    await hub.verifier.drain()
    push = await delivery(hub, "u2-app")
    assert push.verify_state == "unverifiable"
    [proof] = await hub.store.verifications(push.id)
    assert proof["outcome"] == "unverifiable" and proof["reason"] == "极光推送无公开页面，无法核验"
    clock.advance(seconds=3 * 86400)
    await hub.verifier.drain()
    assert len(await hub.store.verifications(push.id)) == 1
    assert not [r for r in await hub.monitor.scan() if r.delivery_id == push.id and r.kind.value == "not_visible"]


def test_titles_match_across_punctuation_whitespace_and_width() -> None:
    assert normalise("关于 印发《要点》的通知（２０２６）") == normalise("关于印发<要点>的通知(2026)")
    page = '<ul><li><a href="/zzbz/a/1.html">国务院办公厅关于印发\n  “政务公开工作要点”的通知</a></li></ul>'
    m = find_item(page, "https://x.gov.cn/zzbz/", TITLE.replace("《", "“").replace("》", "”"), None)
    assert m is not None and m.how == "标题" and m.link == "https://x.gov.cn/zzbz/a/1.html"
    assert find_item(page, "https://x.gov.cn/zzbz/", "另一篇稿件的标题", None) is None
    by_link = find_item('<a href="a/1.html">详情</a>', "https://x.gov.cn/zzbz/", "无关", "https://x.gov.cn/zzbz/a/1.html")
    assert by_link is not None and by_link.how == "链接"


async def test_report_and_api_count_verified_sent_only_and_unverifiable(world, clock) -> None:
    hub: Hub = world["hub"]
    await hub.verifier.drain()
    rows = {(r["unit_id"], r["channel"]): r for r in await monthly_report(
        hub.store, "2026-11", hub.calendar, hub.settings.deadlines, hub.deadline_settings_for)}
    assert rows[("u0", "static")]["verified"] == 1 and rows[("u1", "static")]["sent_only"] == 1
    assert rows[("u2", "push")]["unverifiable"] == 1 and rows[("u2", "weibo")]["verified"] == 1
    metrics = await render_metrics(hub.store, hub.settings, hub.calendar, hub.clock, hub.supervisor, hub.dispatcher,
                                   hub.verifier, hub.refusals)
    assert 'syndicator_deliveries_verify{state="verified"} 2' in metrics
    assert 'syndicator_deliveries_verify{state="unverifiable"} 1' in metrics
    assert "syndicator_verifications_total 4" in metrics
    text = format_report(list(rows.values()), "md", month="2026-11")
    assert "公开页面未见" in text and "核验：已核验 2，仅发送 1，公开页面未见 0，无法核验 1" in text
    clock.advance(seconds=3 * 86400)
    await hub.verifier.drain()
    rows = {(r["unit_id"], r["channel"]): r for r in await monthly_report(
        hub.store, "2026-11", hub.calendar, hub.settings.deadlines, hub.deadline_settings_for)}
    assert rows[("u1", "static")]["not_visible"] == 1 and rows[("u1", "static")]["sent_only"] == 0
    assert _delivery_json(await delivery(hub, "u1-site"))["verify_state"] == "not_visible"


def test_verify_config_errors_name_the_field(tmp_path: Path) -> None:
    for text, field in (("[verify]\nconcurrency = 0\n", "verify.concurrency"),
                        ("[verify]\nschedule = []\n", "verify.schedule"),
                        ("[verify]\nschedule = [60, -5]\n", "verify.schedule"),
                        ("[verify]\nper_host = 'x'\n", "verify.per_host")):
        (problem,) = problems(write(tmp_path, text))
        assert problem.startswith(field), problem


def _page_server_app(pages: dict[str, tuple[bytes, str]]) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        if request.path not in pages:
            raise web.HTTPNotFound()
        body, ctype = pages[request.path]
        return web.Response(body=body, headers={"Content-Type": ctype})

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


def _task(**kw: object) -> VerifyTask:
    base: dict[str, object] = dict(
        id=1, unit_id="u", account_id="a", channel_kind="cms", title=TITLE, item_url="https://www.gov.cn/x.htm",
        deadline_at=datetime(2026, 11, 26, 16, tzinfo=UTC), delivered_at=datetime(2026, 11, 25, 3, tzinfo=UTC),
        external_id="1", external_url=None, verify_state="pending", verified_at=None, attempts=0, matched_url=None)
    base.update(kw)
    return VerifyTask(**base)  # type: ignore[arg-type]


async def test_gbk_column_page_and_wechat_article_are_checked_with_the_upstream_fetch_rules(serve) -> None:
    column = f"<html><head><meta charset='gb2312'></head><body><a href='/zzbz/9.html'>{TITLE}</a></body>"
    article = f"<html><head><title>{TITLE}</title></head><body><script>var msg_title = '{TITLE}';</script></body>"
    base = await serve(_page_server_app({
        "/zzbz/": (column.encode("gbk"), "text/html"),                        # no charset in the header: GBK bytes
        "/s/abc": (article.encode(), "text/html; charset=utf-8"),
        "/big": (b"<html>" + b" " * 5000 + b"</html>", "text/html"),
    }))
    async with aiohttp.ClientSession() as session:
        fetcher = Fetcher(session, user_agent="t", timeout=5, max_bytes=4000, per_host=1)
        cms = checker_for("cms", {"column_url": f"{base}/zzbz/"}, None, fetcher)
        seen = await cms.check(_task(external_url=f"{base}/missing.html"))
        assert seen.outcome == "seen" and seen.matched_url == f"{base}/zzbz/9.html" and seen.http_status == 200
        big = checker_for("cms", {"column_url": f"{base}/big"}, None, fetcher)
        capped = await big.check(_task())
        assert capped.outcome == "error" and "4000-byte limit" in (capped.reason or "")
        wechat = checker_for("wechat", {"mode": "publish"}, None, fetcher)
        art = await wechat.check(_task(channel_kind="wechat", external_url=f"{base}/s/abc"))
        assert art.outcome == "seen" and "不出现在公众号历史消息列表" in (art.reason or "")
        gone = await wechat.check(_task(channel_kind="wechat", external_url=f"{base}/s/none"))
        assert gone.outcome == "absent" and gone.http_status == 404
        hook = checker_for("webhook", {}, None, fetcher)
        assert (await hook.check(_task(channel_kind="webhook"))).outcome == "unverifiable"


class _Queue:
    """Just the two store calls the worker makes: hands out ``tasks`` once, keeps what is recorded."""

    def __init__(self, tasks: list[VerifyTask]) -> None:
        self.tasks, self.recorded = tasks, []

    async def claim_verifications(self, now: datetime, limit: int, lease_until: datetime) -> list[VerifyTask]:
        out, self.tasks = self.tasks[:limit], self.tasks[limit:]
        return out

    async def record_verifications(self, results: list) -> None:
        self.recorded += results


async def test_per_host_and_total_concurrency_are_honoured(serve, clock) -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def slow(request: web.Request) -> web.Response:
        host = request.match_info["host"]
        in_flight[host] = in_flight.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), in_flight[host])
        peak["all"] = max(peak.get("all", 0), sum(v for k, v in in_flight.items() if k != "all"))
        await asyncio.sleep(0.02)
        in_flight[host] -= 1
        return web.Response(text=f"<html><title>{TITLE}</title></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{host}/{n}.html", slow)
    base = await serve(app)
    # two "hosts" (the per-host key is the checker's host(), here the first path segment)
    tasks = [_task(id=i, external_url=f"{base}/h{i % 2}/{i}.html") for i in range(24)]

    class ByPath:
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def host(self, task: VerifyTask) -> str:
            return (task.external_url or "").split("/")[3]

        async def check(self, task: VerifyTask):
            return await self.inner.check(task)  # type: ignore[attr-defined]

    async with aiohttp.ClientSession() as session:
        fetcher = Fetcher(session, user_agent="t", timeout=5, per_host=64)
        queue = _Queue(tasks)
        checkers = {"a": ByPath(checker_for("cms", {}, None, fetcher))}
        worker = Verifier(VerifySettings(concurrency=3, per_host=2), queue, checkers, clock)  # type: ignore[arg-type]
        assert await worker.verify_once() == 24
    assert all(r.state == "verified" for r in queue.recorded) and len(queue.recorded) == 24
    assert peak["h0"] == peak["h1"] == 2 and peak["all"] == 3      # per host 2, at most 3 in all


async def test_a_hanging_check_never_delays_sends(world, clock) -> None:
    hub: Hub = world["hub"]
    release = asyncio.Event()

    class Hanging:
        def host(self, task: VerifyTask) -> str:
            return "hangs.example.gov.cn"

        async def check(self, task: VerifyTask):
            await release.wait()
            return await real.check(task)

    real = hub.verifier.checkers["u0-site"]
    hub.verifier.checkers = {a: Hanging() for a in hub.verifier.checkers}
    checking = asyncio.create_task(hub.verifier.verify_once())
    await asyncio.sleep(0.05)
    world["state"].publish("国务院关于进一步优化政务服务的意见", feeds={"gwy"})
    assert sum([await hub.watcher.poll(s) for s in hub.watcher.sources()]) == 1
    await asyncio.wait_for(drain(hub), 10)                     # sends go on while every check hangs
    assert not checking.done()
    assert all(d.state.value == "delivered" for d in await hub.store.deliveries())
    release.set()
    assert await checking == 4


async def test_cms_review_queue_accepted_is_not_visible_until_approved(serve, tmp_path, clock) -> None:
    """A CMS that queues reprints for its own review: accepted (delivered) but not public. u3's editor approves
    it an hour later (verified then); u4's never does (late: 已发送但公开页面未见)."""
    state = UpstreamState()
    upstream = await serve(build_upstream(state))
    cms_app = cms_box.build_app(secret=DEMO_SECRETS["cms_secret"], serve_pages=True, review=True)
    cms = await serve(cms_app)
    units = [{"id": u, "name": u, "accounts": [
        {"id": f"{u}-cms", "kind": "cms", "base_url": cms, "credentials": {"secret": DEMO_SECRETS["cms_secret"]},
         "options": {"column": f"{u}zzbz", "column_url": f"{cms}/site/{u}zzbz/"}}]} for u in ("u3", "u4")]
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")], units=units)
    state.publish(TITLE, feeds={"gwy"})
    async with Hub(settings, clock=clock) as hub:
        assert sum([await hub.watcher.poll(s) for s in hub.watcher.sources()]) == 1
        await drain(hub)
        assert await hub.verifier.drain() == 2
        assert {d.verify_state for d in await hub.store.deliveries()} == {"pending"}
        u3 = await delivery(hub, "u3-cms")
        key = next(k for k, a in cms_app[cms_box.STATE].articles.items() if a["id"] == u3.external_id)
        async with aiohttp.ClientSession() as session, session.post(f"{cms}/_sandbox/cms/approve",
                                                                    json={"key": key}) as resp:
            assert resp.status == 200
        clock.advance(seconds=60)
        await hub.verifier.drain()
        u3 = await delivery(hub, "u3-cms")
        assert u3.verify_state == "verified"
        proof = (await hub.store.verifications(u3.id))[-1]
        assert proof["outcome"] == "seen" and proof["url"] == u3.external_url
        clock.advance(seconds=3 * 86400)
        await hub.verifier.drain()
        records = [r for r in await hub.monitor.scan() if r.kind.value == "not_visible"]
        u4 = await delivery(hub, "u4-cms")
        assert [r.delivery_id for r in records] == [u4.id] and u4.verify_state == "not_visible"
        assert records[0].reason.startswith("已发送但公开页面未见") and "未找到该稿件标题或链接" in records[0].reason
        # the approved one is taken down later: an alert, state gone
        async with aiohttp.ClientSession() as session, session.post(f"{cms}/_sandbox/cms/take-down",
                                                                    json={"key": key}) as resp:
            assert resp.status == 200
        clock.advance(seconds=86400)
        await hub.verifier.drain()
        assert (await delivery(hub, "u3-cms")).verify_state == "gone"
        assert any("已发布的转载在公开页面消失" in a["message"] for a in await hub.store.recent_alerts(50))


async def test_browser_hosts_are_read_with_the_browser_fetcher(serve) -> None:
    class FakeBrowser:
        def __init__(self) -> None:
            self.urls: list[str] = []
            self.closed = False

        async def fetch(self, url: str, **_kw: object) -> FetchResult:
            self.urls.append(url)
            body = f"<ul><li><a href='/zzbz/1.html'>{TITLE}</a></li></ul>".encode()
            return FetchResult(url=url, status=200, body=body, text=body.decode(), encoding="utf-8")

        async def close(self) -> None:
            self.closed = True

    base = await serve(_page_server_app({"/zzbz/": (f"<a href='/zzbz/2.html'>{TITLE}</a>".encode(), "text/html")}))
    browser = FakeBrowser()
    async with aiohttp.ClientSession() as session:
        http = Fetcher(session, user_agent="t", timeout=5)
        routed = HostRouted(http, lambda: browser, ["gated.example.gov.cn"])
        gated_column = {"column_url": "https://gated.example.gov.cn/zzbz/"}
        gated = await checker_for("cms", gated_column, None, routed).check(_task())
        plain = await checker_for("cms", {"column_url": f"{base}/zzbz/"}, None, routed).check(_task())
        await routed.close()
        no_browser = HostRouted(http, None, ["gated.example.gov.cn"])
        refused = await checker_for("cms", gated_column, None, no_browser).check(_task())
    assert gated.outcome == "seen" and gated.matched_url == "https://gated.example.gov.cn/zzbz/1.html"
    assert browser.urls == ["https://gated.example.gov.cn/zzbz/"] and browser.closed
    assert plain.outcome == "seen" and plain.matched_url == f"{base}/zzbz/2.html"
    assert refused.outcome == "error" and "browser_hosts" in (refused.reason or "")


async def test_a_tick_works_through_a_backlog_claim_by_claim(serve, clock) -> None:
    base = await serve(_page_server_app({f"/p/{i}.html": (f"<title>{TITLE}</title>".encode(), "text/html")
                                         for i in range(50)}))
    async with aiohttp.ClientSession() as session:
        fetcher = Fetcher(session, user_agent="t", timeout=5)
        queue = _Queue([_task(id=i, external_url=f"{base}/p/{i}.html") for i in range(50)])
        worker = Verifier(VerifySettings(concurrency=2), queue, {"a": checker_for("cms", {}, None, fetcher)},
                          clock)  # type: ignore[arg-type]
        assert worker.batch == 16
        await worker.tick()
    assert len(queue.recorded) == 50 and {r.state for r in queue.recorded} == {"verified"}


async def test_never_checked_past_the_grace_is_not_visible_except_where_nothing_could_be_seen(world, clock) -> None:
    """The verifier never ran (down, or failing): an hour after the deadline the reprints a check could have seen
    go on record as not visible; the JPush one (no public page) does not."""
    hub: Hub = world["hub"]
    clock.advance(seconds=2 * 86400)
    ours = {r.account_id: r for r in await hub.monitor.scan() if r.kind.value == "not_visible"}
    assert set(ours) == {"u0-site", "u1-site", "u2-weibo"}
    reason = ours["u0-site"].reason
    assert reason.startswith("已发送但公开页面未见") and "截止时间前未能完成核验" in reason


async def test_a_check_that_never_answers_is_a_failed_check_on_record(clock, monkeypatch) -> None:
    import syndicator.verify.worker as worker_module

    class Silent:
        def host(self, task: VerifyTask) -> str:
            return "silent.example.gov.cn"

        async def check(self, task: VerifyTask):
            await asyncio.Event().wait()

    monkeypatch.setattr(worker_module, "CHECK_TIMEOUT_S", 0.05)
    queue = _Queue([_task()])
    worker = Verifier(VerifySettings(), queue, {"a": Silent()}, clock)  # type: ignore[arg-type]
    assert await worker.verify_once() == 1
    [result] = queue.recorded
    assert result.state == "pending" and result.proof.outcome == "error" and "核验超时" in result.proof.reason
    assert result.next_at == clock.now() + timedelta(seconds=60)
