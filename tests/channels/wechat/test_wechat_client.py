"""WechatClient against the sandbox: shared token, refresh on 40001/42001, errcode mapping."""

from __future__ import annotations

import asyncio
from datetime import datetime

import aiohttp
import pytest

from channels.base import AuthExpired, PermanentError, RetryLater
from channels.scrub import scrub
from channels.wechat.client import WechatClient
from channels.wechat.errors import next_midnight, next_month
from core.clock import SHANGHAI
from sandbox.common import FAULTS, Faults
from sandbox.wechat import build_app
from tests.fakes import make_context
from tests.wechat_support import SECRET, channel, received, serve

DRAFT_GET = {"media_id": "nope"}


pytestmark = pytest.mark.usefixtures("fast_retries")


async def test_two_instances_on_one_kv_fetch_the_token_once() -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ctx = make_context(session)
        first, second = channel(server, ctx).client, channel(server, ctx).client
        tokens = await asyncio.gather(first.access_token(), second.access_token(), first.access_token())
        assert len(set(tokens)) == 1
        assert len(received(server, "stable_token")) == 1
        assert await ctx.kv.get(f"wechat:token:{first.appid}") == tokens[0]


async def test_token_ttl_is_expires_in_minus_margin() -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ctx = make_context(session)
        client = channel(server, ctx).client
        token = await client.access_token()
        ctx.clock.advance(7200 - 301)
        assert await client.access_token() == token
        ctx.clock.advance(2)
        await client.access_token()
        assert len(received(server, "stable_token")) == 2


async def test_40001_refreshes_once_normal_then_forced_and_retries() -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        client = channel(server, make_context(session)).client
        old = await client.access_token()
        server.app[FAULTS].configure(Faults(script=[40001]))
        body = await client.call("draft/get", json_body=DRAFT_GET, accept=frozenset({40007}))
        assert body["errcode"] == 40007                          # the retried call reached the API
        calls = received(server, "stable_token")
        assert [c["body"]["force_refresh"] for c in calls] == [False, False, True]
        assert await client.access_token() != old


async def test_42001_expired_token_is_replaced_without_force() -> None:
    async with serve(build_app(Faults(token_expiry_after=1))) as server, aiohttp.ClientSession() as session:
        client = channel(server, make_context(session)).client
        await client.call("draft/get", json_body=DRAFT_GET, accept=frozenset({40007}))
        await client.call("draft/get", json_body=DRAFT_GET, accept=frozenset({40007}))   # 42001 then retry
        assert [c["body"]["force_refresh"] for c in received(server, "stable_token")] == [False, False]
        assert len(received(server, "draft/get")) == 3


async def test_token_still_rejected_after_refresh_is_retry_later() -> None:
    async with serve(build_app(Faults(script=[40014, 40001]))) as server, aiohttp.ClientSession() as session:
        client = channel(server, make_context(session)).client
        with pytest.raises(RetryLater):
            await client.call("draft/get", json_body=DRAFT_GET)
        assert len(received(server, "draft/get")) == 2          # one retry, not a loop


async def test_45009_backs_off_until_shanghai_midnight() -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        ctx = make_context(session)                               # 2026-11-25 10:00 Asia/Shanghai
        client = channel(server, ctx).client
        await client.access_token()
        server.app[FAULTS].configure(Faults(script=[45009]))
        with pytest.raises(RetryLater) as info:
            await client.call("draft/get", json_body=DRAFT_GET)
        assert info.value.code == 45009 and "零点" in info.value.reason
        assert info.value.retry_after == pytest.approx(14 * 3600 + 60)


@pytest.mark.parametrize(("code", "expected", "words"), [
    (-1, RetryLater, "繁忙"),
    (45011, RetryLater, "频繁"),
    (48001, AuthExpired, "接口权限"),
    (53503, PermanentError, "发布检查"),
    (45003, PermanentError, "标题"),
    (61000, PermanentError, "错误码 61000"),
])
async def test_api_errcodes_map_to_typed_errors(code: int, expected: type, words: str) -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        client = channel(server, make_context(session)).client
        await client.access_token()
        server.app[FAULTS].configure(Faults(script=[code]))
        with pytest.raises(expected) as info:
            await client.call("freepublish/submit", json_body={"media_id": "m"}, idempotent=False)
        assert words in info.value.reason and info.value.code == code


@pytest.mark.parametrize(("sandbox_kwargs", "code", "words"), [
    ({"secret": "rotated-secret"}, 40125, "AppSecret"),
    ({"appid": "wx-other"}, 40013, "AppID"),
    ({"faults": Faults(script=[40164])}, 40164, "白名单"),
])
async def test_credential_problems_are_auth_expired(sandbox_kwargs: dict, code: int, words: str) -> None:
    async with serve(build_app(**sandbox_kwargs)) as server, aiohttp.ClientSession() as session:
        client = channel(server, make_context(session)).client
        with pytest.raises(AuthExpired) as info:
            await client.call("draft/get", json_body=DRAFT_GET)
        assert info.value.code == code and words in info.value.reason
        assert SECRET not in str(info.value) and SECRET not in info.value.detail


async def test_outage_retries_briefly_then_retry_later() -> None:
    async with serve(build_app(Faults(outages=[(0.0, 3600.0)]))) as server, aiohttp.ClientSession() as session:
        client = channel(server, make_context(session)).client
        with pytest.raises(RetryLater) as info:
            await client.access_token()
        assert len(received(server, "stable_token")) == 3 and info.value.code == "network"


async def test_ambiguous_submit_is_not_retried_in_call() -> None:
    async with serve(build_app()) as server, aiohttp.ClientSession() as session:
        client = channel(server, make_context(session)).client
        await client.access_token()
        server.app[FAULTS].configure(Faults(outages=[(0.0, 3600.0)]))
        with pytest.raises(RetryLater) as info:
            await client.call("freepublish/submit", json_body={"media_id": "m"}, idempotent=False)
        assert len(received(server, "freepublish/submit")) == 1 and "核对" in info.value.reason


async def test_unreachable_host_leaks_no_secret() -> None:
    async with aiohttp.ClientSession() as session:
        from tests.wechat_support import account
        client = WechatClient(account("http://127.0.0.1:9"), make_context(session))
        with pytest.raises(RetryLater) as info:
            await client.access_token()
        assert SECRET not in info.value.detail and SECRET not in str(info.value)


def test_scrub_redacts_tokens_in_urls_and_known_values() -> None:
    text = "POST https://api.weixin.qq.com/cgi-bin/draft/add?access_token=ABC.def-1&x=1 secret=s3 tok9"
    assert scrub(text, "tok9") == "POST https://api.weixin.qq.com/cgi-bin/draft/add?access_token=***&x=1 secret=*** ***"


def test_quota_reset_times() -> None:
    late = datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI)
    assert next_midnight(late) == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert next_month(late) == datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert next_month(datetime(2026, 3, 5, tzinfo=SHANGHAI)) == datetime(2026, 4, 1, tzinfo=SHANGHAI)
