"""Three items to 20 units × 4 platform channels (Weibo, WeChat, JPush, CMS) through the sandbox with faults on —
error codes, an expiring WeChat token and replies lost after the post was made: every delivery lands exactly once
(a repeat only where the hub recorded it as a possible duplicate), WeChat's token is refreshed where the sandbox
expired it and the rejected call then succeeds, and the unit whose Weibo token was revoked has all its Weibo
deliveries held and its account marked for re-authorisation."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from datetime import timedelta
from typing import Any

from core.models import Delivery
from sandbox import cms as cms_box
from sandbox import jpush as jpush_box
from sandbox import wechat as wechat_box
from sandbox import weibo as weibo_box
from sandbox.common import FAULTS, RECORDER, Faults
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from syndicator.app import Hub
from tests.hub_support import drain, hub_settings, rss_source

UNITS = 20
ITEMS = 3
REVOKED_UNIT = 7


def weibo_token(i: int) -> str:
    return f"2.00sandbox-weibo-u{i}"


def platform_units(weibo: str, wechat: str, jpush: str, cms: str) -> list[dict]:
    units = []
    for i in range(UNITS):
        units.append({"id": f"u{i}", "name": f"鄂州市第{i}单位", "accounts": [
            {"id": f"u{i}-weibo", "kind": "weibo", "base_url": weibo,
             "credentials": {"access_token": weibo_token(i)},
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


def lossy(**faults: Any) -> Faults:
    """Faults plus lost replies: the first post's answer is always lost, then one in ten."""
    return Faults(drop_responses=1, drop_response_rate=0.1, **faults)


def once_or_flagged(counts: Counter[str], by_key: dict[str, Delivery], what: str) -> None:
    """Each delivery's post exists once, or more often only where the hub recorded a possible duplicate."""
    assert set(counts) == set(by_key), f"{what}: a delivery has no post, or a post no delivery"
    unrecorded = [k for k, n in counts.items() if n > 1 and not by_key[k].possible_duplicate]
    assert unrecorded == [], f"{what}: {len(unrecorded)} repeats the hub did not record"


def token_rejections_then_success(entries: list[dict[str, Any]]) -> int:
    """How many calls WeChat answered 42001 were made again, with the same body, and then succeeded.

    (Not every retry need succeed: the sandbox also injects -1, and under load a fresh token may itself expire.)
    """
    recovered = 0
    for i, e in enumerate(entries):
        if e.get("errcode") == 42001:
            same = [later for later in entries[i + 1:] if later["path"] == e["path"] and later["body"] == e["body"]]
            recovered += bool(same) and same[0]["errcode"] == 0
    return recovered


async def test_twenty_units_four_platforms_with_faults(serve, tmp_path, clock, session) -> None:
    state = UpstreamState()
    for n in range(ITEMS):
        state.publish(
            f"国务院办公厅关于印发《政务新媒体健康发展行动方案（2026—2028年）》的通知（第{n + 1}号）",
            f'<p>　　各省、自治区、直辖市人民政府：（第{n + 1}号）</p>'
            '<style>p{color:red}</style><script>alert(1)</script>'
            '<table><tr><td>任务</td><td>责任单位</td></tr><tr><td>转载</td><td>各单位</td></tr></table>'
            '<p><img src="/images/seal.png"></p>')
    upstream = await serve(build_upstream(state))
    weibo_app = weibo_box.build_app(lossy(error_rate=0.25, codes=[10023, 10022], seed=7),
                                    tokens={weibo_token(i): "example.gov.cn" for i in range(UNITS)}, reset_in=30)
    wechat_app = wechat_box.build_app(lossy(token_expiry_after=15, error_rate=0.1, codes=[-1], seed=8),
                                      appid=DEMO_SECRETS["wechat_appid"], secret=DEMO_SECRETS["wechat_secret"])
    jpush_app = jpush_box.build_app(lossy(error_rate=0.25, codes=[2002, 1000], seed=9),
                                    apps={DEMO_SECRETS["jpush_app_key"]: DEMO_SECRETS["jpush_master_secret"]})
    cms_app = cms_box.build_app(lossy(error_rate=0.25, codes=[500, 503], seed=10), secret=DEMO_SECRETS["cms_secret"])
    urls = [await serve(app) for app in (weibo_app, wechat_app, jpush_app, cms_app)]
    # The unit's Weibo authorisation is withdrawn on the platform: every call with its token now gets 21319.
    async with session.post(f"{urls[0]}/_sandbox/revoke", json={"token": weibo_token(REVOKED_UNIT)}) as resp:
        assert resp.status == 200
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml")],
                            units=platform_units(*urls), retry_base_seconds=5, retry_cap_seconds=120,
                            confirm_interval_seconds=5)
    async with Hub(settings, clock=clock) as hub:
        assert await hub.watcher.poll(settings.sources[0]) == ITEMS
        for _ in range(40):
            await drain(hub)
            counts = await hub.store.state_counts()
            if set(counts) <= {"delivered", "held"}:
                break
            clock.advance(timedelta(minutes=5).total_seconds())
        counts = await hub.store.state_counts()
        held = await hub.store.deliveries(states=["held"])
        deliveries = await hub.store.deliveries(limit=1000)
        alerts = await hub.store.recent_alerts(200)
        account_states = await hub.store.account_states()

    revoked = f"u{REVOKED_UNIT}-weibo"
    assert counts == {"delivered": UNITS * 4 * ITEMS - ITEMS, "held": ITEMS}, counts
    assert [d.account_id for d in held] == [revoked] * ITEMS
    assert all("21319" in d.last_error and "重新授权" in d.last_error for d in held)
    assert account_states[revoked][0] == "needs_reauth"
    assert [a["subject"] for a in alerts if "重新授权" in a["message"]] == [revoked]
    assert all(state == "active" for account, (state, _r) in account_states.items() if account != revoked)
    assert sum(d.attempts > 1 for d in deliveries) > 0, "faults were on: some deliveries must have retried"
    for app in (weibo_app, wechat_app, jpush_app, cms_app):
        assert app[FAULTS].dropped >= 1, "every platform lost at least one reply after posting"

    by_kind: dict[str, dict[str, Delivery]] = {}
    for d in deliveries:
        by_kind.setdefault(d.channel_kind, {})[d.idempotency_key] = d
    delivered = {kind: {k: d for k, d in ds.items() if d.state.value == "delivered"} for kind, ds in by_kind.items()}

    # Weibo: one post per unit and item; a lost reply's resend was refused as a repeat (20019), so nothing is
    # even flagged as a possible duplicate.
    posts = Counter(p["text"].rsplit(" ", 1)[-1] for p in weibo_app[weibo_box.STATE].posts)
    assert len(posts) == (UNITS - 1) * ITEMS and set(posts.values()) == {1}
    assert not any(d.possible_duplicate for d in delivered["weibo"].values())
    assert any(e.get("reply_lost") for e in weibo_app[RECORDER].entries)

    # JPush cannot be asked: a lost reply is resent, and such a repeat must be recorded.
    sendno_to_key = {zlib.crc32(k.encode()) & 0x7FFFFFFF: k for k in delivered["push"]}
    pushes = Counter(sendno_to_key[p["body"]["options"]["sendno"]] for p in jpush_app[jpush_box.STATE].pushes)
    once_or_flagged(pushes, delivered["push"], "JPush")
    assert any(d.possible_duplicate for d in delivered["push"].values()), "a lost JPush reply means a blind resend"

    # CMS: idempotent on the key, however often a reply was lost.
    assert set(cms_app[cms_box.STATE].articles) == set(delivered["cms"])

    # WeChat: a lost submit is found among the publications, not published again.
    jobs = wechat_app[wechat_box.STATE].jobs.values()
    assert all(j.status == 0 for j in jobs)
    published = Counter((j.article["author"], j.article["content_source_url"]) for j in jobs)
    assert len(published) == UNITS * ITEMS and set(published.values()) == {1}
    assert not any(d.possible_duplicate for d in delivered["wechat"].values())
    # the sandbox expired WeChat tokens along the way; each rejected call was made again and succeeded
    assert token_rejections_then_success(wechat_app[RECORDER].entries) >= 1

    # scripts and styles never reach a platform; the credit does
    for article in cms_app[cms_box.STATE].articles.values():
        body = json.dumps(article, ensure_ascii=False)
        assert "<script" not in body and "color:red" not in body and "<table" in body
        assert article["body"]["credit"] == "转载自 中国政府网"
    assert all("转载自 中国政府网" in p["text"] for p in weibo_app[weibo_box.STATE].posts)
