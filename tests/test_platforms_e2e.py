"""One item to 20 units × 4 platform channels (Weibo, WeChat, JPush, CMS) through the sandbox
with faults on: every delivery lands exactly once, WeChat's token is refreshed where the sandbox
expired it, and the unit whose Weibo token was revoked has its Weibo delivery held."""

from __future__ import annotations

from datetime import timedelta

from sandbox import cms as cms_box
from sandbox import jpush as jpush_box
from sandbox import wechat as wechat_box
from sandbox import weibo as weibo_box
from sandbox.common import RECORDER, Faults
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from syndicator.app import Hub
from tests.hub_support import drain, hub_settings, rss_source

UNITS = 20
REVOKED_UNIT = 7
WEIBO_TOKEN = DEMO_SECRETS["weibo_token"]


def platform_units(weibo: str, wechat: str, jpush: str, cms: str) -> list[dict]:
    units = []
    for i in range(UNITS):
        token = "2.00revoked" if i == REVOKED_UNIT else WEIBO_TOKEN
        units.append({"id": f"u{i}", "name": f"鄂州市第{i}单位", "accounts": [
            {"id": f"u{i}-weibo", "kind": "weibo", "base_url": weibo, "credentials": {"access_token": token},
             "options": {"safe_domain": "example.gov.cn", "rip": "203.0.113.10",
                         "link_template": "https://www.example.gov.cn/{unit_id}/zzbz/{item_id}"}},
            {"id": f"u{i}-wechat", "kind": "wechat", "base_url": wechat,
             "credentials": {"appid": DEMO_SECRETS["wechat_appid"], "appsecret": DEMO_SECRETS["wechat_secret"],
                             "token": "cb-token"}},
            {"id": f"u{i}-app", "kind": "push", "base_url": jpush,
             "credentials": {"app_key": DEMO_SECRETS["jpush_app_key"],
                             "master_secret": DEMO_SECRETS["jpush_master_secret"]}},
            {"id": f"u{i}-cms", "kind": "cms", "base_url": cms, "credentials": {"secret": DEMO_SECRETS["cms_secret"]},
             "options": {"column": "zzbz"}},
        ]})
    return units


async def test_twenty_units_four_platforms_with_faults(serve, tmp_path, clock, session) -> None:
    state = UpstreamState()
    state.publish(
        "国务院办公厅关于印发《政务新媒体健康发展行动方案（2026—2028年）》的通知",
        '<p>　　各省、自治区、直辖市人民政府：</p><style>p{color:red}</style><script>alert(1)</script>'
        '<table><tr><td>任务</td><td>责任单位</td></tr><tr><td>转载</td><td>各单位</td></tr></table>'
        '<p><img src="/images/seal.png"></p>')
    upstream = await serve(build_upstream(state))
    weibo_app = weibo_box.build_app(Faults(error_rate=0.25, codes=[10023, 10022], seed=7),
                                    tokens={WEIBO_TOKEN: "example.gov.cn"}, hourly_limit=60, reset_in=30)
    wechat_app = wechat_box.build_app(Faults(token_expiry_after=15, error_rate=0.1, codes=[-1], seed=8),
                                      appid=DEMO_SECRETS["wechat_appid"], secret=DEMO_SECRETS["wechat_secret"])
    jpush_app = jpush_box.build_app(Faults(error_rate=0.25, codes=[2002, 1000], seed=9),
                                    apps={DEMO_SECRETS["jpush_app_key"]: DEMO_SECRETS["jpush_master_secret"]})
    cms_app = cms_box.build_app(Faults(error_rate=0.25, codes=[500, 503], seed=10), secret=DEMO_SECRETS["cms_secret"])
    urls = [await serve(app) for app in (weibo_app, wechat_app, jpush_app, cms_app)]
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")],
                            units=platform_units(*urls), retry_base_seconds=5, retry_cap_seconds=120,
                            confirm_interval_seconds=5)
    async with Hub(settings, clock=clock) as hub:
        assert await hub.watcher.poll(settings.sources[0]) == 1
        for _ in range(40):
            await drain(hub)
            counts = await hub.store.state_counts()
            if set(counts) <= {"delivered", "held"}:
                break
            clock.advance(timedelta(minutes=5).total_seconds())
        counts = await hub.store.state_counts()
        held = await hub.store.deliveries(states=["held"])
        deliveries = await hub.store.deliveries(limit=1000)
        alerts = [a["message"] for a in await hub.store.recent_alerts(100)]

    assert counts == {"delivered": UNITS * 4 - 1, "held": 1}, counts
    assert [d.account_id for d in held] == [f"u{REVOKED_UNIT}-weibo"]
    assert "授权" in held[0].last_error and any("重新授权" in m for m in alerts)
    assert sum(d.attempts > 1 for d in deliveries) > 0, "faults were on: some deliveries must have retried"

    # exactly once on every platform
    weibo_posts = weibo_app[weibo_box.STATE].posts
    assert len(weibo_posts) == UNITS - 1
    assert len({p["text"] if isinstance(p, dict) and "text" in p else str(p) for p in weibo_posts}) == UNITS - 1
    assert len(jpush_app[jpush_box.STATE].pushes) == UNITS
    assert len(cms_app[cms_box.STATE].articles) == UNITS
    jobs = wechat_app[wechat_box.STATE].jobs
    assert len(jobs) == UNITS and all(j.status == 0 for j in jobs.values())
    # the sandbox expired WeChat tokens along the way; the hub fetched fresh ones and carried on
    token_calls = [e for e in wechat_app[RECORDER].entries if e["path"].endswith("stable_token")]
    assert len(token_calls) >= 2
    # scripts and styles never reach a platform
    for article in cms_app[cms_box.STATE].articles.values():
        body = str(article)
        assert "<script" not in body and "color:red" not in body and "<table" in body
