"""Every documented platform answer, end to end: the real Dispatcher and a real SQLite store drive a real channel
against its sandbox look-alike, and each test reads the delivery state the answer leads to — state, last error or
note, next attempt, the account's state and the alerts a person gets.

The codes and their meanings are the ones docs/platforms.md lists (Weibo Error_code table, WeChat global return
codes and freepublish/get publish_status, JPush v3 "调用返回", our own CMS contract in channels/website/cms.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from channels.wechat.errors import PUBLISH_FAILURES
from core.models import DeliveryState
from sandbox import cms as cms_box
from sandbox import jpush as jpush_box
from sandbox import wechat as wechat_box
from sandbox import weibo as weibo_box
from sandbox.common import FAULTS, RECORDER, Faults
from tests.dispatch_support import Rig, enqueue, make_rig, settle
from tests.fakes import make_item

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)           # the clock fixture: Wednesday 10:00 in Shanghai
WEIBO_TOKEN = "2.00weibo-token-of-fgw"
WX_APPID, WX_SECRET = "wx-fgw", "wechat-appsecret-fgw"
APP_KEY, MASTER_SECRET = "7d431e42dfa6a6d693ac2d04", "5e987ac6d2e04d95a9d8f0d1"
CMS_SECRET = "cms-shared-secret"


# ---------------------------------------------------------------- accounts against each look-alike

def weibo_account(url: str, **options: Any) -> dict[str, Any]:
    return {"id": "wb-fgw", "kind": "weibo", "base_url": url, "concurrency": 1,
            "credentials": {"access_token": WEIBO_TOKEN},
            "options": {"safe_domain": "ezhou.gov.cn", "rip": "61.183.1.2", "attach_image": False,
                        "connect_retries": 0, "link_template": "https://www.ezhou.gov.cn/zzbz/{item_id}", **options}}


def wechat_account(url: str, **options: Any) -> dict[str, Any]:
    return {"id": "wx-fgw", "kind": "wechat", "base_url": url, "concurrency": 1, "options": options,
            "credentials": {"appid": WX_APPID, "appsecret": WX_SECRET, "token": "callback-token"}}


def push_account(url: str, **options: Any) -> dict[str, Any]:
    return {"id": "app-fgw", "kind": "push", "base_url": url, "concurrency": 1,
            "credentials": {"app_key": APP_KEY, "master_secret": MASTER_SECRET},
            "options": {"connect_retries": 0, "audience_tag_template": "ezhou_fgw", **options}}


def cms_account(url: str) -> dict[str, Any]:
    return {"id": "cms-fgw", "kind": "cms", "base_url": url, "concurrency": 1,
            "credentials": {"secret": CMS_SECRET}, "options": {"column": "zzbz", "connect_retries": 0}}


@pytest.fixture
async def weibo(serve, sqlite_store, clock, session):
    app = weibo_box.build_app(tokens={WEIBO_TOKEN: "ezhou.gov.cn"}, reset_in=1234)
    rig = await make_rig(sqlite_store, clock, session, weibo_account(await serve(app)))
    return app, rig


@pytest.fixture
async def jpush(serve, sqlite_store, clock, session):
    app = jpush_box.build_app(apps={APP_KEY: MASTER_SECRET})
    rig = await make_rig(sqlite_store, clock, session, push_account(await serve(app)))
    return app, rig


@pytest.fixture
async def cms(serve, sqlite_store, clock, session):
    app = cms_box.build_app(secret=CMS_SECRET)
    rig = await make_rig(sqlite_store, clock, session, cms_account(await serve(app)))
    return app, rig


async def wechat_rig(serve, store, clock, session, faults: Faults | None = None, *, mass_quota: int = 1,
                     **options: Any) -> tuple[Any, Rig]:
    app = wechat_box.build_app(faults, appid=WX_APPID, secret=WX_SECRET, mass_quota=mass_quota)
    return app, await make_rig(store, clock, session, wechat_account(await serve(app), **options))


def script(app: Any, *codes: int) -> None:
    app[FAULTS].configure(Faults(script=list(codes)))


async def assert_held_for_reauth(rig: Rig, code: int) -> None:
    deliveries = await rig.store.deliveries(account_id=rig.account.id)
    assert len(deliveries) == 2 and {d.state for d in deliveries} == {DeliveryState.HELD}
    assert all(str(code) in (d.last_error or "") and d.next_attempt_at is None for d in deliveries)
    state, reason = (await rig.store.account_states())[rig.account.id]
    assert state == "needs_reauth" and str(code) in (reason or "")
    alerts = await rig.alerts()
    assert len(alerts) == 1 and "重新授权" in alerts[0] and "已暂存 2 条" in alerts[0]


async def assert_platform_hold(rig: Rig, reason: str, held: int = 2) -> None:
    """Every delivery held, the account on platform hold with ``reason``, one alert saying so."""
    deliveries = await rig.store.deliveries(account_id=rig.account.id)
    assert len(deliveries) == held and {d.state for d in deliveries} == {DeliveryState.HELD}
    assert all(reason in (d.last_error or "") for d in deliveries)
    state, why = (await rig.store.account_states())[rig.account.id]
    assert state == "platform_hold" and reason in (why or "")
    (alert,) = await rig.alerts()
    assert "账号被平台限制" in alert and reason in alert and f"已暂存 {held} 条" in alert


async def assert_failed_for_a_person(rig: Rig, *words: str) -> None:
    d = await rig.only()
    assert d.state is DeliveryState.FAILED and d.next_attempt_at is None and d.delivered_at is None
    assert all(w in (d.last_error or "") for w in words), d.last_error
    assert (await rig.store.account_states()).get(rig.account.id, ("active", None))[0] == "active"
    assert any("发送失败需人工处理" in a and words[0] in a for a in await rig.alerts())


async def assert_retrying(rig: Rig, after_s: float, reason: str) -> None:
    d = await rig.only()
    assert d.state is DeliveryState.RETRYING and reason in (d.last_error or ""), d.last_error
    assert d.next_attempt_at == rig.clock.now() + timedelta(seconds=after_s)
    assert not d.ambiguous and await rig.alerts() == []
    assert (await rig.store.account_states()).get(rig.account.id, ("active", None))[0] == "active"


# ---------------------------------------------------------------- Weibo

@pytest.mark.parametrize("code", [21327, 21332, 21315])
async def test_weibo_expired_or_invalid_token_holds_the_account(weibo, code: int) -> None:
    app, rig = weibo
    script(app, code)
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    await assert_held_for_reauth(rig, code)
    assert len(app[weibo_box.STATE].posts) == 0


async def test_weibo_revoked_token_holds_the_account(weibo, session) -> None:
    app, rig = weibo
    async with session.post(f"{rig.account.base_url}/_sandbox/revoke", json={"token": WEIBO_TOKEN}) as resp:
        assert resp.status == 200
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    await assert_held_for_reauth(rig, 21319)
    # held, not retried: the sandbox saw one share call, the second delivery never went out
    assert [e["response_status"] for e in app[RECORDER].entries if e["path"] == weibo_box.SHARE] == [401]


@pytest.mark.parametrize("code", [20017, 20019, 20111])
async def test_weibo_repeated_content_on_a_first_attempt_fails_for_a_person(weibo, code: int) -> None:
    app, rig = weibo
    script(app, code)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_failed_for_a_person(rig, "微博判定为重复内容", str(code), "此前没有发出过")
    assert len(app[weibo_box.STATE].posts) == 0


@pytest.mark.parametrize("code", [20017, 20019, 20111])
async def test_weibo_repeated_content_after_a_lost_reply_is_delivered_with_a_note(weibo, code: int) -> None:
    app, rig = weibo
    app[FAULTS].configure(Faults(drop_responses=1, script=[0, code]))   # posted, reply lost; then the repeat
    await enqueue(rig)
    await settle(rig.dispatcher)
    rig.clock.advance(seconds=10)
    await settle(rig.dispatcher)
    d = await rig.only()
    assert d.state is DeliveryState.DELIVERED and d.note == "微博平台判定为重复内容，视为已发布"
    assert d.external_id == f"duplicate:{d.idempotency_key}" and not d.possible_duplicate and d.last_error is None
    assert await rig.alerts() == [] and len(app[weibo_box.STATE].posts) == 1


@pytest.mark.parametrize("code", [21321, 20015])
async def test_weibo_app_or_account_restrictions_hold_the_account(weibo, code: int) -> None:
    app, rig = weibo
    script(app, code)
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    await assert_platform_hold(rig, f"（{code}）")


async def test_weibo_20014_is_called_again(weibo) -> None:
    app, rig = weibo
    script(app, 20014)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_retrying(rig, 10, "再调用一次（20014）")
    rig.clock.advance(seconds=10)
    await settle(rig.dispatcher)
    assert (await rig.only()).state is DeliveryState.DELIVERED and len(app[weibo_box.STATE].posts) == 1


@pytest.mark.parametrize("code", [10022, 10023, 10024, 20016])
async def test_weibo_rate_limits_back_off_until_the_reset(weibo, code: int) -> None:
    app, rig = weibo
    script(app, code)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_retrying(rig, 1234, "渠道故障：微博接口限流")     # reset_time_in_seconds of rate_limit_status
    rig.clock.advance(seconds=1234)
    await settle(rig.dispatcher)
    assert (await rig.only()).state is DeliveryState.DELIVERED and len(app[weibo_box.STATE].posts) == 1


@pytest.mark.parametrize(("code", "words"), [(10017, "安全域名"), (20012, "超过140字")])
async def test_weibo_rendering_rejections_fail_with_the_reason(weibo, code: int, words: str) -> None:
    app, rig = weibo
    script(app, code)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_failed_for_a_person(rig, f"（{code}）", words)


# ---------------------------------------------------------------- WeChat

def _refreshed_once(app: Any, code: int) -> None:
    """The rejected call was made again after one token refresh, and that time it succeeded."""
    entries = app[RECORDER].entries
    (rejected,) = [i for i, e in enumerate(entries) if e.get("errcode") == code]
    path = entries[rejected]["path"]
    after = entries[rejected + 1:]
    again = next(i for i, e in enumerate(after) if e["path"] == path)
    assert after[again]["errcode"] == 0
    assert {e["path"] for e in after[:again]} == {"/cgi-bin/stable_token"}
    assert len(app[wechat_box.STATE].tokens) == 2                  # exactly one new token was issued


@pytest.mark.parametrize(("code", "faults"), [
    (40001, Faults(script=[40001])), (40014, Faults(script=[40014])), (42001, Faults(script=[42001])),
    (42001, Faults(token_expiry_after=2)),                        # the token really expires mid-publish
], ids=["40001", "40014", "42001", "42001-expired"])
async def test_wechat_rejected_token_is_refreshed_once_and_the_post_delivered(
        serve, sqlite_store, clock, session, code: int, faults: Faults) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session, faults)
    await enqueue(rig)
    await settle(rig.dispatcher)
    d = await rig.only()
    assert d.state is DeliveryState.CONFIRMING and d.external_id in app[wechat_box.STATE].jobs
    clock.advance(seconds=5)
    await settle(rig.dispatcher)
    d = await rig.only()
    assert d.state is DeliveryState.DELIVERED and d.external_url.startswith("https://mp.weixin.qq.com/s/")
    assert d.attempts == 1 and await rig.alerts() == []
    _refreshed_once(app, code)


async def test_wechat_daily_quota_45009_waits_for_shanghai_midnight(serve, sqlite_store, clock, session) -> None:
    _app, rig = await wechat_rig(serve, sqlite_store, clock, session, Faults(script=[0, 45009]))
    await enqueue(rig)
    await settle(rig.dispatcher)
    # 10:00 in Shanghai -> 00:00 next day (16:00 UTC) plus the one-minute slack
    await assert_retrying(rig, (datetime(2026, 11, 25, 16, 1, tzinfo=UTC) - NOW).total_seconds(),
                          "今日微信接口调用次数已达上限，将于北京时间零点后自动重试")


@pytest.mark.parametrize(("period", "until", "reason"), [
    ("day", datetime(2026, 11, 25, 16, 1, tzinfo=UTC), "今日群发次数已用完"),
    ("month", datetime(2026, 11, 30, 16, 1, tzinfo=UTC), "本月群发次数已用完"),
])
async def test_wechat_mass_send_quota_45028_waits_for_the_next_period(
        serve, sqlite_store, clock, session, period: str, until: datetime, reason: str) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session, mass_quota=0, mode="mass_send",
                                mass_quota_period=period)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_retrying(rig, (until - NOW).total_seconds(), reason)
    assert [e["errcode"] for e in app[RECORDER].entries if e["path"].endswith("mass/sendall")] == [45028]


@pytest.mark.parametrize("status", [2, 3, 4, 5, 6])
async def test_wechat_failed_publish_status_fails_with_its_meaning(serve, sqlite_store, clock, session,
                                                                   status: int) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session)
    await enqueue(rig)
    await settle(rig.dispatcher)
    publish_id = (await rig.only()).external_id
    app[wechat_box.STATE].jobs[publish_id].status = status
    clock.advance(seconds=5)
    await settle(rig.dispatcher)
    d = await rig.only()
    assert d.state is DeliveryState.FAILED and d.last_error == PUBLISH_FAILURES[status]
    assert any(PUBLISH_FAILURES[status] in a for a in await rig.alerts())


# ---------------------------------------------------------------- JPush

@pytest.mark.parametrize(("code", "words"), [
    (1003, "参数值不合法"), (1005, "消息体太大"), (1011, "没有满足条件的推送目标"), (1002, "缺少必须的参数"),
])
async def test_jpush_bad_requests_fail_with_the_reason(jpush, code: int, words: str) -> None:
    app, rig = jpush
    script(app, code)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_failed_for_a_person(rig, f"（{code}）", words)


@pytest.mark.parametrize("code", [1004, 1008, 2003, 2004])
async def test_jpush_auth_and_blacklist_hold_the_account(jpush, code: int) -> None:
    app, rig = jpush
    script(app, code)
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    await assert_held_for_reauth(rig, code)


async def test_jpush_rate_limit_2002_honours_reset_for_every_account_on_the_app_key(jpush) -> None:
    app, rig = jpush
    script(app, 2002)                                  # HTTP 429, X-Rate-Limit-Reset: 7
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    deliveries = await rig.store.deliveries(account_id=rig.account.id)
    assert [d.state for d in deliveries] == [DeliveryState.RETRYING] * 2
    assert all(d.next_attempt_at == rig.clock.now() + timedelta(seconds=7) for d in deliveries)
    assert all("限流" in d.last_error for d in deliveries)
    assert len(app[RECORDER].entries) == 1             # the second waited on the AppKey's spent window
    rig.clock.advance(seconds=7)
    await settle(rig.dispatcher)
    assert {d.state for d in await rig.store.deliveries()} == {DeliveryState.DELIVERED}


@pytest.mark.parametrize(("code", "after_s"), [(1000, 10), (1030, 10), (2005, 3600)])
async def test_jpush_server_trouble_retries_with_backoff(jpush, code: int, after_s: float) -> None:
    app, rig = jpush
    script(app, code)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_retrying(rig, after_s, f"（{code}）")


# ---------------------------------------------------------------- CMS (our REST contract)

@pytest.mark.parametrize("status", [401, 403])
async def test_cms_refused_signature_holds_the_account(cms, status: int) -> None:
    app, rig = cms
    script(app, status)
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    await assert_held_for_reauth(rig, status)


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_cms_rejected_article_fails_with_the_reason(cms, status: int) -> None:
    app, rig = cms
    script(app, status)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_failed_for_a_person(rig, f"HTTP {status}", "拒收")


@pytest.mark.parametrize(("status", "after_s"), [(429, 1), (500, 10), (502, 10), (503, 10)])
async def test_cms_overload_and_5xx_retry(cms, status: int, after_s: float) -> None:
    app, rig = cms
    script(app, status)
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_retrying(rig, after_s, f"HTTP {status}" if status != 429 else "限流")
    rig.clock.advance(seconds=after_s)
    await settle(rig.dispatcher)
    assert (await rig.only()).state is DeliveryState.DELIVERED and len(app[cms_box.STATE].articles) == 1


# ---------------------------------------------------------------- lost replies: the post was made, the answer lost

async def _lost_reply(app: Any, rig: Rig) -> None:
    app[FAULTS].configure(Faults(drop_responses=1))
    await enqueue(rig)
    await settle(rig.dispatcher)
    d = await rig.only()
    assert app[FAULTS].dropped == 1
    assert d.state is DeliveryState.RETRYING and d.ambiguous, (d.state, d.last_error)
    rig.clock.advance(seconds=10)
    await settle(rig.dispatcher)


async def test_weibo_lost_reply_resend_is_refused_as_repeat_so_no_duplicate_is_recorded(weibo) -> None:
    app, rig = weibo
    await _lost_reply(app, rig)
    d = await rig.only()
    assert d.state is DeliveryState.DELIVERED and d.note == "微博平台判定为重复内容，视为已发布"
    assert not d.possible_duplicate                     # 20019 proves the post exists exactly once
    assert len(app[weibo_box.STATE].posts) == 1


async def test_jpush_lost_reply_resend_is_recorded_as_possible_duplicate(jpush) -> None:
    app, rig = jpush
    await _lost_reply(app, rig)
    d = await rig.only()
    assert d.state is DeliveryState.DELIVERED and d.possible_duplicate and "可能重复发布" in (d.note or "")
    assert len(app[jpush_box.STATE].pushes) == 2        # JPush cannot be asked: the resend was blind


async def test_cms_lost_reply_is_answered_by_the_key_on_resend(cms) -> None:
    app, rig = cms
    app[FAULTS].configure(Faults(drop_responses=1))
    await enqueue(rig)
    await settle(rig.dispatcher)
    rig.clock.advance(seconds=10)
    await settle(rig.dispatcher)
    d = await rig.only()
    assert app[FAULTS].dropped == 1 and d.state is DeliveryState.DELIVERED and not d.possible_duplicate
    assert len(app[cms_box.STATE].articles) == 1


async def test_wechat_lost_submit_reply_is_found_among_publications(serve, sqlite_store, clock, session) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session)
    await _lost_reply(app, rig)
    d = await rig.only()
    assert d.state is DeliveryState.DELIVERED and not d.possible_duplicate
    assert "已在已发表列表中找到该文" in (d.note or "") and d.external_url.startswith("https://mp.weixin.qq.com/s/")
    assert len(app[wechat_box.STATE].jobs) == 1         # submitted once
