"""JPush channel: payload rendering within the size limits, and every documented error code via the sandbox."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.base import AccountConfig, AuthExpired, PermanentError, RetryLater
from channels.push import JPushChannel
from channels.push.render import JPushOptions, fits, payload_bytes, render_push
from core.models import UnitRef
from sandbox.common import FAULTS, RECORDER, Faults
from sandbox.jpush import STATE, build_app
from tests.fakes import make_context, make_item, refused_url

UNIT = UnitRef("ezhou_fgw", "鄂州市发展和改革委员会")
APP_KEY, SECRET = "7d431e42dfa6a6d693ac2d04", "5e987ac6d2e04d95a9d8f0d1"
TITLE = "国务院关于印发《推动大规模设备更新和消费品以旧换新行动方案》的通知"
CREDIT = "（转载自 中国政府网）"


# The one notice this module's tests publish; each test changes only what it is about.
notice = partial(make_item, guid="content_6939232", id=77, title=TITLE,
                 url="https://www.gov.cn/zhengce/content/202403/content_6939232.htm",
                 content="<p>各省、自治区、直辖市人民政府：</p><script>x()</script><p>现将方案印发给你们。</p>",
                 detected_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))


XIAOMI = {"xiaomi": {"channel_id": "109881"}}     # the 公信 channel the app was granted on 小米推送


def opts(**kw: Any) -> JPushOptions:
    return JPushOptions.model_validate({"connect_retries": 0, **kw})


# ---------------------------------------------------------------- render (pure)

def test_render_shape() -> None:
    payload = render_push(notice(), UNIT, opts(title_prefix="【转载】"), sendno=5)
    assert payload["platform"] == ["android", "ios"]
    assert payload["audience"] == {"tag": ["ezhou_fgw"]}
    note = payload["notification"]
    assert note["alert"] == note["android"]["alert"] == note["ios"]["alert"] == "【转载】" + TITLE + CREDIT
    assert note["android"]["title"] == "鄂州市发展和改革委员会"
    assert note["android"]["extras"] == {"url": notice().url, "source": "转载自 中国政府网"} == note["ios"]["extras"]
    vendors = payload["options"].pop("third_party_channel")
    assert payload["options"] == {"time_to_live": 86_400, "apns_production": True, "classification": 0, "sendno": 5}
    assert vendors["huawei"] == {"importance": "LOW", "category": "MARKETING"} and vendors["xiaomi"] == {}


def test_long_title_is_cut_to_vendor_length_keeping_the_credit() -> None:
    payload = render_push(notice(title=TITLE * 3), UNIT, opts(alert_max_chars=60))
    alert = payload["notification"]["alert"]
    assert len(alert) == 60 and alert.endswith("…" + CREDIT)
    assert (TITLE * 3).startswith(alert.removesuffix("…" + CREDIT))


def test_credit_can_stay_out_of_the_alert_but_not_out_of_extras() -> None:
    payload = render_push(notice(), UNIT, opts(alert_credit=False, url_template="https://app.ezhou.gov.cn/{item_id}"))
    note = payload["notification"]
    assert note["alert"] == TITLE and "转载" not in note["alert"]
    assert note["android"]["extras"] == {"url": "https://app.ezhou.gov.cn/77", "source": "转载自 中国政府网",
                                         "source_url": notice().url}
    tiny = render_push(notice(), UNIT, opts(alert_max_chars=12))          # no room for title and credit
    assert tiny["notification"]["alert"].endswith("…") and tiny["notification"]["ios"]["extras"]["source"]


def test_size_limits_shorten_the_alert() -> None:
    huge = "https://www.ezhou.gov.cn/app/open?to=" + "x" * 1900
    payload = render_push(notice(title=TITLE * 10), UNIT, opts(alert_max_chars=1000, url_template=huge))
    ios = payload["notification"]["ios"]
    assert len(b'"ios":') + payload_bytes(ios) <= 2000 and fits(payload)
    assert payload["notification"]["alert"].endswith("…")    # a 1.9 KB link leaves room for nothing else
    roomy = render_push(notice(title=TITLE * 10), UNIT, opts(alert_max_chars=1000, url_template=huge[:1700]))
    assert fits(roomy) and roomy["notification"]["alert"].endswith("…" + CREDIT)


def test_payload_that_can_never_fit_is_permanent() -> None:
    with pytest.raises(PermanentError):
        render_push(notice(), UNIT, opts(url_template="https://a.cn/" + "x" * 2100))


@pytest.mark.parametrize("template", ["{unit_name} 频道", "x" * 41, "{nope}"])
def test_bad_tags_are_permanent(template: str) -> None:
    with pytest.raises(PermanentError):
        render_push(notice(), UNIT, opts(audience_tag_template=template))


@settings(max_examples=100, deadline=None)
@given(title=st.text(min_size=1, max_size=3000))
def test_any_title_fits(title: str) -> None:
    payload = render_push(notice(title=title), UNIT, opts(alert_max_chars=1000))
    assert fits(payload) and payload["notification"]["alert"].endswith(CREDIT)


# ---------------------------------------------------------------- publish against the sandbox

@pytest.fixture
async def env() -> AsyncIterator[dict[str, Any]]:
    app = build_app(apps={APP_KEY: SECRET}, tags={"ezhou_fgw": 1200})
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        yield {"app": app, "server": server, "session": session, "ctx": make_context(session)}


def channel(env: dict[str, Any], secret: str = SECRET, base_url: str | None = None, **kw: Any) -> JPushChannel:
    account = AccountConfig(id="app-fgw", kind="push", base_url=base_url or str(env["server"].make_url("")),
                            credentials={"app_key": APP_KEY, "master_secret": secret},
                            options={"connect_retries": 0, "third_party_channel": XIAOMI, **kw})
    return JPushChannel(account, env["ctx"])


def script(env: dict[str, Any], codes: list[int]) -> None:
    env["app"][FAULTS].configure(Faults(script=codes))


async def test_publish_success_and_lookup(env: dict[str, Any]) -> None:
    ch = channel(env)
    receipt = await ch.publish(notice(), UNIT, "key-1")
    assert receipt.external_id.isdigit() and receipt.note is None
    entry = env["app"][RECORDER].entries[-1]
    assert entry["headers"]["authorization"] == "***"
    assert entry["body"]["audience"] == {"tag": ["ezhou_fgw"]} and entry["response_status"] == 200
    assert (await ch.lookup("key-1")).external_id == receipt.external_id
    with pytest.raises(NotImplementedError):
        await ch.lookup("never-sent")


async def test_wrong_secret_is_auth_expired_without_leaking(env: dict[str, Any]) -> None:
    with pytest.raises(AuthExpired) as info:
        await channel(env, secret="wrong-secret").publish(notice(), UNIT, "k")
    assert info.value.code == 1004
    text = json.dumps([str(info.value), info.value.reason, info.value.detail], ensure_ascii=False)
    assert "wrong-secret" not in text and SECRET not in text


@pytest.mark.parametrize(("code", "expected"), [
    (1000, RetryLater), (1001, PermanentError), (1002, PermanentError), (1003, PermanentError),
    (1004, AuthExpired), (1005, PermanentError), (1008, AuthExpired), (1009, PermanentError),
    (1011, PermanentError), (1020, PermanentError), (1030, RetryLater), (2002, RetryLater),
    (2003, AuthExpired), (2004, AuthExpired), (2005, RetryLater),
])
async def test_error_codes(env: dict[str, Any], code: int, expected: type[Exception]) -> None:
    script(env, [code])
    with pytest.raises(expected) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert info.value.code == code
    assert str(code) in info.value.reason or "限流" in info.value.reason


async def test_rate_limit_honours_reset_header(env: dict[str, Any]) -> None:
    script(env, [2002])
    with pytest.raises(RetryLater) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert info.value.retry_after == 7


async def test_quota_2005_backs_off_an_hour(env: dict[str, Any]) -> None:
    script(env, [2005])
    with pytest.raises(RetryLater) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert info.value.retry_after == 3600


async def test_real_rate_limit_and_no_target() -> None:
    app = build_app(apps={APP_KEY: SECRET}, tags={"other": 3}, quota=1, window_s=60)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        env = {"app": app, "server": server, "session": session, "ctx": make_context(session)}
        with pytest.raises(PermanentError) as info:            # first call: tag has no device -> 1011
            await channel(env).publish(notice(), UNIT, "a")
        assert info.value.code == 1011 and "受众标签" in info.value.reason
        with pytest.raises(RetryLater) as retry:                # second call in the window: 429 / 2002
            await channel(env).publish(notice(), UNIT, "b")
        assert retry.value.code == 2002 and 0 < retry.value.retry_after <= 60


async def test_no_target_can_be_recorded_as_delivered(env: dict[str, Any]) -> None:
    script(env, [1011])
    receipt = await channel(env, on_no_target="note").publish(notice(), UNIT, "k")
    assert receipt.note.startswith("无推送对象") and not receipt.possible_duplicate


async def test_sandbox_rejects_oversized_body(env: dict[str, Any]) -> None:
    body = {"platform": ["ios"], "audience": {"tag": ["ezhou_fgw"]},
            "notification": {"ios": {"alert": "长" * 700}}}
    auth = "Basic " + base64.b64encode(f"{APP_KEY}:{SECRET}".encode()).decode()
    async with env["session"].post(env["server"].make_url("/v3/push"), json=body,
                                   headers={"Authorization": auth}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["code"] == 1005


async def test_outage_and_network_errors_retry(env: dict[str, Any]) -> None:
    env["app"][FAULTS].configure(Faults(outages=[(0.0, 3600.0)]))
    with pytest.raises(RetryLater) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert "503" in info.value.reason
    with pytest.raises(RetryLater) as info:
        await channel(env, base_url=refused_url()).publish(notice(), UNIT, "k")
    assert "无法连接" in info.value.reason


async def test_shortened_alert_is_noted_and_record_failure_is_harmless(env: dict[str, Any]) -> None:
    async def broken_put(key: str, value: str, ttl_seconds: float | None = None) -> None:
        raise OSError("store down")

    ch = channel(env, alert_max_chars=20)
    ch.ctx.kv.put = broken_put  # type: ignore[method-assign]
    receipt = await ch.publish(notice(), UNIT, "k")
    assert receipt.external_id.isdigit() and receipt.note == "推送标题已按平台限制截短"


async def test_lost_reply_is_ambiguous_and_timeouts_too(env: dict[str, Any]) -> None:
    env["app"][FAULTS].configure(Faults(drop_responses=1))
    ch = channel(env)
    with pytest.raises(RetryLater) as info:
        await ch.publish(notice(), UNIT, "k")
    assert info.value.ambiguous and len(env["app"][STATE].pushes) == 1   # pushed, only the answer was lost
    with pytest.raises(NotImplementedError):
        await ch.lookup("k")
    script(env, [1000])                                                  # JPush answered: nothing pushed
    with pytest.raises(RetryLater) as info:
        await ch.publish(notice(), UNIT, "k2")
    assert not info.value.ambiguous


async def test_spent_window_on_a_200_reply_blocks_every_account_on_the_app_key() -> None:
    app = build_app(apps={APP_KEY: SECRET}, quota=1, window_s=60)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        env = {"app": app, "server": server, "session": session, "ctx": make_context(session)}
        first, other_unit = channel(env), channel(env)                   # two units' accounts, one city app
        receipt = await first.publish(notice(), UNIT, "a")            # 200 with X-Rate-Limit-Remaining: 0
        assert receipt.external_id.isdigit()
        with pytest.raises(RetryLater) as info:
            await other_unit.publish(notice(), UNIT, "b")
        assert info.value.code == 2002 and 0 < info.value.retry_after <= 60
        assert len(app[RECORDER].entries) == 1                           # refused here, not by a 429 there
        env["ctx"].clock.advance(seconds=info.value.retry_after)         # type: ignore[attr-defined]
        app[STATE].windows.clear()                                       # the platform's window reset too
        assert (await other_unit.publish(notice(), UNIT, "b")).external_id.isdigit()


async def test_platform_error_text_is_scrubbed_of_the_master_secret() -> None:
    echo = web.Application()

    async def push(request: web.Request) -> web.Response:
        auth = request.headers["Authorization"]
        secret = base64.b64decode(auth[6:]).decode().partition(":")[2]
        return web.json_response({"error": {"code": 1999, "message": f"bad credentials {auth} ({secret})"}},
                                 status=400)

    echo.router.add_post("/v3/push", push)
    async with TestServer(echo) as server, aiohttp.ClientSession() as session:
        env = {"server": server, "session": session, "ctx": make_context(session)}
        with pytest.raises(PermanentError) as info:
            await channel(env).publish(notice(), UNIT, "k")
    text = " ".join([info.value.reason, info.value.detail, str(info.value)])
    token = base64.b64encode(f"{APP_KEY}:{SECRET}".encode()).decode()
    assert SECRET not in text and token not in text and "1999" in info.value.reason
