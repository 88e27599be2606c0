"""A source configured wrong — a selector that matches an empty container, a JavaScript shell, a JSON
path that is null — can never sit "healthy" with zero items: the health state, the alert, `sources
list`, the dashboard and `sources probe` all say so (issue #12)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

import aiohttp

from sandbox.govsite import add_govsite_routes
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UPSTREAM, build_app
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from syndicator.source_empty import health_state
from tests.dashboard_support import dashboard, get, login
from tests.hub_support import hub_settings, webhook_and_site_units
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
ARTICLE = {"title": ["div.share-title"], "body": ["div.TRS_UEDITOR", "#UCAP-CONTENT"],
           "date_meta": ["firstpublishedtime"], "guid_meta": ["manuscriptId"]}


def wrong_sources(base: str) -> list[dict[str, Any]]:
    return [
        # The old 最新政策 preset: the page is a JavaScript shell whose list container is there but empty.
        {"id": "shell", "name": "最新政策（HTML 空壳）", "kind": "html", "url": f"{base}/zhengce/zuixin/",
         "interval": 60, "html": {"item": ".list li", "link": "h4 a", "date": "span.date"}},
        # A selector that matches nothing inside a container that exists.
        {"id": "wrong-selector", "name": "国务院信息（选择器错误）", "kind": "html", "url": f"{base}/pushinfo/v150203/",
         "interval": 60, "html": {"item": ".news_box .list li.no-such-class", "link": "h4 a"}},
        # The old policy library preset: searchVO.listVO is null for t=zhengcelibrary.
        {"id": "null-path", "name": "政策文件库（路径错误）", "kind": "json", "interval": 60,
         "url": f"{base}/search-gov/data?t=zhengcelibrary&q=&sort=pubtime&sortType=1&p=1&n=20",
         "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0.0.0 Safari/537.36"},
         "json": {"list_path": "searchVO.listVO", "title": "title", "url": "url", "date": "pubtimeStr"}},
        # A right source, for the "had items, now none" case.
        {"id": "zuixin", "name": "最新政策", "kind": "json", "url": f"{base}/zhengce/zuixin/ZUIXINZHENGCE.json",
         "interval": 60, "json": {"title": "TITLE", "url": "URL", "date": "DOCRELPUBTIME"}, "article": ARTICLE},
    ]


async def test_wrong_configuration_is_never_healthy_with_zero_items(serve, tmp_path, clock) -> None:
    app = build_app()
    add_govsite_routes(app)
    state = app[UPSTREAM]
    state.publish("国务院关于印发来源健康测试方案的通知", feeds={"gwy"}, published_at=clock.now() - timedelta(hours=1))
    base = await serve(app)
    receiver = await serve(build_webhook(DEMO_SECRETS["webhook"]))
    settings = hub_settings(tmp_path, sources=wrong_sources(base), units=webhook_and_site_units(1, receiver,
                                                                                               tmp_path / "s"))
    settings.fetch.empty_after_polls = 3
    settings.fetch.alert_after_seconds = 60
    async with Hub(settings, clock=clock) as hub:
        by_id = {s.id: s for s in settings.sources}

        async def poll_all() -> dict[str, Any]:
            for source in settings.sources:
                await hub.watcher.poll(source)
            clock.advance(seconds=61)
            return {sid: await hub.store.source_health(sid) for sid in by_id}

        health = await poll_all()
        assert health_state(health["null-path"]) == "failing"
        assert "is null" in (health["null-path"].last_error or "")
        assert health_state(health["zuixin"]) == "ok" and health["zuixin"].last_listed == 1
        assert health_state(health["shell"]) == health_state(health["wrong-selector"]) == "ok"   # 1 of 3 polls
        await poll_all()
        health = await poll_all()
        for sid in ("shell", "wrong-selector"):
            assert health_state(health[sid]) == "empty", sid
            assert "从未得到任何条目" in (health[sid].empty_reason or "")
        assert health_state(health["null-path"]) == "failing"
        alerts = [a["message"] for a in await hub.store.recent_alerts(100)]
        assert sum("来源无内容" in a and "最新政策（HTML 空壳）" in a for a in alerts) == 1
        assert sum("来源无内容" in a and "选择器错误" in a for a in alerts) == 1
        assert any("来源持续失败" in a and "路径错误" in a for a in alerts)

        state.docs.clear()                                   # the right source's list empties
        state.changed_at += timedelta(seconds=1)
        health = await poll_all()
        assert health_state(health["zuixin"]) == "empty" and "上次有 1 条" in (health["zuixin"].empty_reason or "")
        state.publish("国务院关于恢复发布的通知", feeds={"gwy"}, published_at=clock.now())
        health = await poll_all()
        assert health_state(health["zuixin"]) == "ok" and health["zuixin"].empty_since is None
        alerts = [a["message"] for a in await hub.store.recent_alerts(100)]
        assert any(a.startswith("来源恢复：最新政策") for a in alerts)
        assert sum("来源无内容：最新政策 本次读取到 0 条" in a for a in alerts) == 1

    # The same state on the command line, then `sources probe` of each wrong source fails.
    names = json.dumps([str(tmp_path / "sources.toml")])
    (tmp_path / "sources.toml").write_text(_toml(wrong_sources(base)), "utf-8")
    config = tmp_path / "c.toml"
    config.write_text(f"source_files = {names}\n[storage]\nurl = \"sqlite:///{tmp_path / 'hub.db'}\"\n", "utf-8")
    code, out, err = await _main("sources", "list", "--config", str(config))
    assert code == 0, err
    listed = {h["id"]: h for h in map(json.loads, out.splitlines())}
    assert listed["shell"]["state"] == "empty" and "从未得到任何条目" in listed["shell"]["empty_reason"]
    assert listed["null-path"]["state"] == "failing" and listed["zuixin"]["state"] == "ok"
    for sid in ("shell", "wrong-selector", "null-path"):
        code, out, err = await _main("sources", "probe", sid, "--config", str(config))
        summary = err.strip().splitlines()[-1]
        assert code != 0 and f"source {sid}: 0 items" in summary and ("FAILED" in summary), (sid, err)
    code, out, err = await _main("sources", "probe", "zuixin", "--config", str(config))
    assert code == 0, err
    (item,) = map(json.loads, out.splitlines())
    assert item["body_head"].startswith("国务院关于恢复发布的通知已经国务院同意") and item["body_problem"] is None
    assert "source zuixin: 1 items, 1 list page(s) read, 0 problem(s)" in err


def _toml(sources: list[dict[str, Any]]) -> str:
    """The few shapes used here, written as TOML (inline tables)."""
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v, ensure_ascii=False)

    return "".join("[[sources]]\n" + "".join(f"{k} = {value(v)}\n" for k, v in s.items()) for s in sources)


async def _main(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "main.py"), *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_dashboard_shows_the_empty_state(tmp_path, clock, serve) -> None:
    async with dashboard(tmp_path, clock, serve) as d, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        health = await d.hub.store.source_health("gwy")
        health.empty_since, health.empty_reason = clock.now(), "国务院信息 已成功读取 3 次却从未得到任何条目"
        await d.hub.store.save_source_health(health)
        await login(http, d.base)
        status, page = await get(http, f"{d.base}/sources")
        assert status == 200 and "无内容" in page and "从未得到任何条目" in page
        status, metrics = await get(http, f"{d.base}/metrics")
        assert 'syndicator_source_empty{source="gwy"} 1' in metrics
