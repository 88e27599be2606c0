"""WeChat as the real API behaves (issue 14): raw UTF-8 JSON, account-level holds, isolated token pools and the
forced-refresh limit — in the channel and in the look-alike, which must be at least as strict as WeChat.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from channels.base import RetryLater
from channels.wechat.client import FORCE_REFRESH_PER_DAY, WechatClient
from channels.wechat.errors import ACCOUNT_HOLDS
from core.models import DeliveryState
from sandbox import wechat as wechat_box
from sandbox.common import RECORDER
from tests.channels.wechat.test_platform_errors import WX_APPID, WX_SECRET, assert_platform_hold, wechat_rig
from tests.dispatch_support import Rig, enqueue, settle
from tests.fakes import make_item


async def resume(rig: Rig) -> None:
    """What Operations.resume does for a person (the hub's 恢复 action)."""
    now = rig.clock.now()
    await rig.store.set_account_state(rig.account.id, "active", None, now)
    await rig.store.release_account(rig.account.id, now)
    rig.dispatcher.resume(rig.account.id)


async def _post(session: Any, url: str, data: bytes) -> dict[str, Any]:
    async with session.post(url, data=data, headers={"Content-Type": "application/json"}) as resp:
        return await resp.json()


async def test_lookalike_rejects_unicode_escapes_with_40033(serve, session) -> None:
    url = await serve(wechat_box.build_app(appid=WX_APPID, secret=WX_SECRET))
    creds = {"grant_type": "client_credential", "appid": WX_APPID, "secret": WX_SECRET}
    token = (await _post(session, f"{url}/cgi-bin/stable_token", json.dumps(creds).encode()))["access_token"]
    body = {"touser": "o_admin", "msgtype": "text", "text": {"content": "国务院办公厅"}}
    escaped = await _post(session, f"{url}/cgi-bin/message/custom/send?access_token={token}",
                          json.dumps(body).encode())                     # json.dumps escapes: \u56fd...
    assert escaped["errcode"] == 40033
    raw = await _post(session, f"{url}/cgi-bin/message/custom/send?access_token={token}",
                      json.dumps(body, ensure_ascii=False).encode())
    assert raw["errcode"] == 0


async def test_channel_and_alert_pushes_send_raw_utf8(serve, sqlite_store, clock, session) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session)
    await enqueue(rig)
    await settle(rig.dispatcher)
    clock.advance(seconds=5)
    await settle(rig.dispatcher)
    assert (await rig.only()).state is DeliveryState.DELIVERED      # draft/add carried Chinese, unescaped
    codes = [e["errcode"] for e in app[RECORDER].entries if "errcode" in e]
    assert 40033 not in codes
    data = await rig.channel.client.call("message/custom/send", json_body={          # type: ignore[attr-defined]
        "touser": "o_admin", "msgtype": "text", "text": {"content": "【延误】鄂州市发改委"}})
    assert data["errcode"] == 0


@pytest.mark.parametrize("code", [89501, 89503, 89506, 89507, 50004, 50007])
async def test_account_level_codes_hold_the_account_and_resume_releases(
        serve, sqlite_store, clock, session, code: int) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session)
    app[wechat_box.STATE].hold_code = code
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    await assert_platform_hold(rig, ACCOUNT_HOLDS[code])
    app[wechat_box.STATE].hold_code = None                       # the admin confirmed / the account was unfrozen
    await resume(rig)
    await settle(rig.dispatcher)
    clock.advance(seconds=5)
    await settle(rig.dispatcher)
    assert {d.state for d in await rig.store.deliveries()} == {DeliveryState.DELIVERED}


@pytest.mark.parametrize("code", [89504, 89505])
async def test_mass_send_awaiting_approval_holds_the_account(serve, sqlite_store, clock, session, code: int) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session, mode="mass_send")
    app[wechat_box.STATE].mass_hold_code = code
    await enqueue(rig)
    await settle(rig.dispatcher)
    await assert_platform_hold(rig, ACCOUNT_HOLDS[code], held=1)


async def test_plain_token_endpoint_does_not_invalidate_the_stable_token(serve, session) -> None:
    url = await serve(wechat_box.build_app(appid=WX_APPID, secret=WX_SECRET))
    creds = {"grant_type": "client_credential", "appid": WX_APPID, "secret": WX_SECRET}
    stable = (await _post(session, f"{url}/cgi-bin/stable_token", json.dumps(creds).encode()))["access_token"]
    async with session.get(f"{url}/cgi-bin/token", params={"grant_type": "client_credential", "appid": WX_APPID,
                                                           "secret": WX_SECRET}) as resp:
        plain = (await resp.json())["access_token"]
    assert plain != stable
    call = f"{url}/cgi-bin/draft/get?access_token={stable}"
    assert (await _post(session, call, b'{"media_id":"none"}'))["errcode"] == 40007     # token valid, draft unknown
    again = (await _post(session, f"{url}/cgi-bin/stable_token", json.dumps(creds).encode()))["access_token"]
    assert again == stable


async def test_lookalike_forced_refresh_is_limited(serve, session) -> None:
    app = wechat_box.build_app(appid=WX_APPID, secret=WX_SECRET)
    url = await serve(app)
    body = json.dumps({"grant_type": "client_credential", "appid": WX_APPID, "secret": WX_SECRET,
                       "force_refresh": True}).encode()
    first = await _post(session, f"{url}/cgi-bin/stable_token", body)      # no token yet: issued
    forced = await _post(session, f"{url}/cgi-bin/stable_token", body)     # a forced refresh
    again = await _post(session, f"{url}/cgi-bin/stable_token", body)      # within 30 s: not refreshed
    assert forced["access_token"] != first["access_token"] and again["access_token"] == forced["access_token"]
    state = app[wechat_box.STATE]                                       # 20 forced refreshes in the last hour
    state.forced = [time.time() - 3600 + 60 * i for i in range(wechat_box.FORCE_PER_DAY)]
    assert (await _post(session, f"{url}/cgi-bin/stable_token", body))["errcode"] == 45009


async def test_channel_counts_forced_refreshes_and_keeps_them_apart(serve, sqlite_store, clock, session) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session)
    client: WechatClient = rig.channel.client                      # type: ignore[attr-defined]
    token = await client.access_token()
    renewed = await client.access_token(rejected=token)           # same token from normal mode -> forced
    assert renewed != token
    with pytest.raises(RetryLater) as gap:                         # 30 s have not passed
        await client.access_token(rejected=renewed)
    assert "间隔 30 秒" in gap.value.reason and 0 < (gap.value.retry_after or 0) <= 30
    for _ in range(FORCE_REFRESH_PER_DAY - 1):
        clock.advance(seconds=31)
        app[wechat_box.STATE].forced.clear()                       # the look-alike's own wall-clock gap
        renewed = await client.access_token(rejected=renewed)
    clock.advance(seconds=31)
    with pytest.raises(RetryLater) as spent:
        await client.access_token(rejected=renewed)
    assert "每天 20 次" in spent.value.reason and spent.value.retry_after and spent.value.retry_after > 3600
    clock.advance(days=1)
    app[wechat_box.STATE].forced.clear()
    assert await client.access_token(rejected=renewed) != renewed
