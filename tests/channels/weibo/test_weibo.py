"""Weibo channel: rendering on State Council content, and every documented error code against the sandbox."""

from __future__ import annotations

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
from channels.weibo import WeiboChannel
from channels.weibo.render import WeiboOptions, render_post, shorten, weibo_length
from core.models import UnitRef
from sandbox.common import FAULTS, RECORDER, FaultInjector, Faults
from sandbox.weibo import STATE, build_app
from tests.fakes import make_context, make_item, refused_url

UNIT = UnitRef("ezhou-fgw", "鄂州市发展和改革委员会")
TOKEN = "tok-abc"
LONG_TITLE = ("国务院办公厅关于印发《加快构建废弃物循环利用体系的意见》《关于进一步优化政务服务提升行政效能"
              "推动“高效办成一件事”的指导意见》及相关配套措施实施方案的通知（国办发〔2024〕7号）"
              "——各省、自治区、直辖市人民政府，国务院各部委、各直属机构")
BODY = """
<style>.TRS_Editor p{margin:0}</style><script>alert('x')</script>
<p>各省、自治区、直辖市人民政府，国务院各部委、各直属机构：</p>
<p>《关于加快构建废弃物循环利用体系的意见》已经国务院同意，现印发给你们，请认真贯彻落实。</p>
<table><tr><th>指标</th><th>2025年</th></tr><tr><td>资源循环利用产业产值</td><td>5万亿元</td></tr></table>
<p><img src="/images/2024/01/fig1.png" alt="图解"></p>
"""


# The one notice this module's tests publish; each test changes only what it is about.
notice = partial(make_item, guid="content_6929541", id=4242,
                 url="https://www.gov.cn/zhengce/content/202402/content_6929541.htm",
                 title="国务院办公厅关于加快构建废弃物循环利用体系的意见", content=BODY,
                 detected_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))


def options(**kw: Any) -> dict[str, Any]:
    return {"safe_domain": "ezhou.gov.cn", "rip": "61.183.1.2", "connect_retries": 0,
            "link_template": "https://www.ezhou.gov.cn/zzbz/{item_id}", **kw}


def wb_options(**kw: Any) -> WeiboOptions:
    return WeiboOptions.model_validate(options(**kw))


# ---------------------------------------------------------------- render (pure)

def test_render_fits_and_keeps_link_title_credit() -> None:
    post = render_post(notice(), UNIT, wb_options())
    assert weibo_length(post.status) <= 140
    assert post.status.startswith("【国务院办公厅关于加快构建废弃物循环利用体系的意见】")
    assert post.status.endswith(" https://www.ezhou.gov.cn/zzbz/4242")
    assert "（转载自 中国政府网）" in post.status
    assert post.image_url == "https://www.gov.cn/images/2024/01/fig1.png"
    assert "alert" not in post.status and "margin" not in post.status and "<" not in post.status


def test_long_title_is_cut_with_ellipsis_never_the_link_nor_the_credit() -> None:
    post = render_post(notice(title=LONG_TITLE + LONG_TITLE), UNIT, wb_options())
    assert weibo_length(post.status) <= 140 and post.truncated
    title = post.status[1:post.status.index("】")]
    assert title.endswith("…") and (LONG_TITLE * 2).startswith(title[:-1])
    assert post.status.endswith("】（转载自 中国政府网） https://www.ezhou.gov.cn/zzbz/4242")
    tight = render_post(notice(title=LONG_TITLE), UNIT, wb_options(max_chars=40))
    assert weibo_length(tight.status) <= 40 and "（转载自 中国政府网）" in tight.status


def test_a_link_too_long_for_the_full_credit_keeps_a_short_one() -> None:
    link = "https://www.ezhou.gov.cn/zzbz/" + "a" * 15 + "/{item_id}"   # 50 characters
    post = render_post(notice(title=LONG_TITLE), UNIT, wb_options(max_chars=40, link_template=link))
    assert weibo_length(post.status) <= 40 and "（转载）" in post.status and post.status.startswith("【")


def test_topics_are_removed() -> None:
    item = notice(title="#国务院常务会议#部署#稳就业#工作", summary="＃两会＃ 政策解读")
    post = render_post(item, UNIT, wb_options())
    assert "#" not in post.status and "＃" not in post.status
    assert "国务院常务会议部署稳就业工作" in post.status


def test_falls_back_to_item_url_on_safe_domain() -> None:
    item = notice(url="https://www.ezhou.gov.cn/zwgk/202611/t20261124_1.shtml#top", id=None)
    post = render_post(item, UNIT, wb_options())
    assert post.link == "https://www.ezhou.gov.cn/zwgk/202611/t20261124_1.shtml"


def test_no_safe_domain_link_is_permanent_before_sending() -> None:
    with pytest.raises(PermanentError) as info:
        render_post(notice(), UNIT, wb_options(link_template=None))
    assert "安全域名" in info.value.reason
    with pytest.raises(PermanentError):
        render_post(notice(), UNIT, wb_options(link_template="https://elsewhere.cn/{item_id}"))


def test_half_width_counts_half() -> None:
    assert weibo_length("abcd") == 2 and weibo_length("abc") == 2 and weibo_length("国务院") == 3


def test_shorten_respects_character_boundaries() -> None:
    family = "👨\u200d👩\u200d👧"
    text = "通知" + family + "e\u0301" * 3 + "《国务院关于" + "👍🏽"
    for units in range(2, 40):
        cut, was_cut = shorten(text, units)
        head = cut.removesuffix("…")
        assert text.startswith(head) and (was_cut or cut == text)
        if was_cut and head:
            following = text[len(head)]
            assert not head.endswith(("\u200d", "《")) and following not in "\u200d\u0301🏽"


@settings(max_examples=200, deadline=None)
@given(title=st.text(min_size=1, max_size=300), summary=st.text(max_size=400))
def test_any_title_fits(title: str, summary: str) -> None:
    post = render_post(notice(title=title, summary=summary), UNIT, wb_options())
    assert weibo_length(post.status) <= 140
    assert post.status.endswith("（转载自 中国政府网） https://www.ezhou.gov.cn/zzbz/4242")
    assert "#" not in post.status[: -len(post.link)]


# ---------------------------------------------------------------- publish against the sandbox

@pytest.fixture
async def env() -> AsyncIterator[dict[str, Any]]:
    app = build_app(tokens={TOKEN: "ezhou.gov.cn"}, reset_in=1234)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        yield {"app": app, "server": server, "session": session}


def channel(env: dict[str, Any], token: str = TOKEN, base_url: str | None = None, **kw: Any) -> WeiboChannel:
    account = AccountConfig(id="wb-fgw", kind="weibo", base_url=base_url or str(env["server"].make_url("")),
                            credentials={"access_token": token}, options=options(**{"attach_image": False, **kw}))
    return WeiboChannel(account, make_context(env["session"]))


async def test_publish_success_records_form(env: dict[str, Any]) -> None:
    ch = channel(env)
    receipt = await ch.publish(notice(), UNIT, "key-1")
    assert (await ch.lookup("key-1")).external_id == receipt.external_id      # from the local record
    with pytest.raises(NotImplementedError):
        await ch.lookup("never-sent")
    assert receipt.external_id.isdigit() and receipt.url == f"https://m.weibo.cn/status/{receipt.external_id}"
    entry = env["app"][RECORDER].entries[-1]
    assert entry["body"]["access_token"] == "***" and entry["body"]["rip"] == "61.183.1.2"
    assert entry["body"]["status"].endswith("https://www.ezhou.gov.cn/zzbz/4242")


async def test_picture_is_uploaded(env: dict[str, Any]) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    images = web.Application()

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    images.router.add_get("/fig.png", serve)
    async with TestServer(images) as img:
        item = notice(images=(str(img.make_url("/fig.png")),))
        receipt = await channel(env, attach_image=True).publish(item, UNIT, "key-pic")
    assert receipt.note is None
    assert env["app"][RECORDER].entries[-1]["body"]["pic"]["size"] == len(png)


async def test_same_text_twice_is_delivered_with_note(env: dict[str, Any]) -> None:
    ch = channel(env)
    await ch.publish(notice(), UNIT, "k")
    receipt = await ch.publish(notice(), UNIT, "k")
    assert receipt.note.startswith("微博平台判定为重复内容") and not receipt.possible_duplicate


@pytest.mark.parametrize(("code", "expected"), [
    (21327, AuthExpired), (21332, AuthExpired), (21315, AuthExpired), (21314, AuthExpired),
    (21316, AuthExpired), (21317, AuthExpired), (21319, AuthExpired), (20031, AuthExpired),
    (10014, AuthExpired), (10017, PermanentError), (20012, PermanentError), (20018, PermanentError),
    (20021, PermanentError), (20005, PermanentError), (20006, PermanentError), (10008, PermanentError),
    (10016, PermanentError), (10001, RetryLater), (10002, RetryLater), (10003, RetryLater),
    (10009, RetryLater),
])
async def test_error_codes(env: dict[str, Any], code: int, expected: type[Exception]) -> None:
    _script(env, [code])
    with pytest.raises(expected) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert info.value.code == code and "tok-abc" not in str(info.value) + info.value.reason


@pytest.mark.parametrize("code", [20017, 20019, 20111])
async def test_duplicate_codes_on_a_first_attempt_fail_for_a_person(env: dict[str, Any], code: int) -> None:
    _script(env, [code])
    with pytest.raises(PermanentError) as info:
        await channel(env).publish(notice(), UNIT, "k9")
    assert info.value.code == code and "此前没有发出过" in info.value.reason


@pytest.mark.parametrize("code", [20017, 20019, 20111])
async def test_duplicate_codes_after_an_attempt_that_may_have_reached_weibo_are_delivered(
        env: dict[str, Any], code: int) -> None:
    ch = channel(env)
    _script(env, [10023])                                   # Weibo answered: that attempt posted nothing
    with pytest.raises(RetryLater):
        await ch.publish(notice(), UNIT, "k9")
    _script(env, [code])
    with pytest.raises(PermanentError):                     # so a repeat is still not ours
        await ch.publish(notice(), UNIT, "k9")
    _faults(env).configure(Faults(drop_responses=1))       # posted, answer lost: it may have reached Weibo
    with pytest.raises(RetryLater) as lost:
        await ch.publish(notice(), UNIT, "k9")
    assert lost.value.ambiguous
    _script(env, [code])
    receipt = await ch.publish(notice(), UNIT, "k9")
    assert receipt.external_id == "duplicate:k9" and "重复内容" in (receipt.note or "")
    assert receipt.deduplicated and not receipt.possible_duplicate     # Weibo itself refused the repeat


async def test_slow_success_20032_is_delivered(env: dict[str, Any]) -> None:
    _script(env, [20032])
    receipt = await channel(env).publish(notice(), UNIT, "k")
    assert "20032" in (receipt.note or "")


@pytest.mark.parametrize("code", [10022, 10023, 10024, 20016])
async def test_rate_limits_use_reset_hint(env: dict[str, Any], code: int) -> None:
    _script(env, [code])
    with pytest.raises(RetryLater) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert info.value.retry_after == 1234 and info.value.reason == "渠道故障：微博接口限流"


async def test_rate_limit_without_hint_waits_for_next_hour(env: dict[str, Any]) -> None:
    _script(env, [10023])
    ch = channel(env)

    async def no_hint(token: str) -> None:
        return None

    ch.client.rate_limit_reset = no_hint  # type: ignore[method-assign]
    with pytest.raises(RetryLater) as info:
        await ch.publish(notice(), UNIT, "k")
    assert info.value.retry_after == 3630          # FakeClock is on the hour: 3600 s + margin


async def test_sandbox_validation_paths(env: dict[str, Any]) -> None:
    with pytest.raises(AuthExpired):                        # unknown token -> 21332
        await channel(env, token="nope").publish(notice(), UNIT, "k")
    async with env["session"].post(env["server"].make_url("/_sandbox/revoke"), json={"token": TOKEN}):
        pass
    with pytest.raises(AuthExpired) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert info.value.code == 21319


async def test_token_expiry_and_hourly_limit() -> None:
    app = build_app(Faults(token_expiry_after=1), tokens={TOKEN: "ezhou.gov.cn"})
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        env = {"app": app, "server": server, "session": session}
        await channel(env).publish(notice(), UNIT, "a")
        with pytest.raises(AuthExpired) as info:
            await channel(env).publish(notice(title="另一篇"), UNIT, "b")
        assert info.value.code == 21327
    app = build_app(tokens={TOKEN: "ezhou.gov.cn"}, hourly_limit=1, reset_in=60)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        env = {"app": app, "server": server, "session": session}
        await channel(env).publish(notice(), UNIT, "a")
        with pytest.raises(RetryLater) as retry:
            await channel(env).publish(notice(title="另一篇"), UNIT, "b")
        assert retry.value.code == 20016 and retry.value.retry_after == 60


@pytest.mark.parametrize(("sandbox", "code"), [
    ({"tokens": {TOKEN: "wuhan.gov.cn"}}, 10017),                # link not on the app's safe domain
    ({"tokens": {TOKEN: "ezhou.gov.cn"}, "max_chars": 40}, 20012),  # a server that counts stricter than we do
])
async def test_sandbox_rejections_are_permanent(sandbox: dict[str, Any], code: int) -> None:
    app = build_app(**sandbox)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        env = {"app": app, "server": server, "session": session}
        with pytest.raises(PermanentError) as info:
            await channel(env).publish(notice(), UNIT, "k")
        assert info.value.code == code and "需人工处理" in info.value.reason


async def test_outage_and_network_errors_retry(env: dict[str, Any]) -> None:
    _faults(env).configure(Faults(outages=[(0.0, 3600.0)]))
    with pytest.raises(RetryLater) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert "HTTP 503" in info.value.reason
    with pytest.raises(RetryLater) as info:
        await channel(env, base_url=refused_url()).publish(notice(), UNIT, "k")
    assert "无法连接" in info.value.reason


async def test_lost_reply_is_ambiguous_and_the_resend_is_refused_as_a_repeat(env: dict[str, Any]) -> None:
    _faults(env).configure(Faults(drop_responses=1))
    ch = channel(env)
    with pytest.raises(RetryLater) as info:
        await ch.publish(notice(), UNIT, "k")
    assert info.value.ambiguous and "可能已发布" in info.value.reason
    assert len(env["app"][STATE].posts) == 1                       # the post was made, only the answer was lost
    with pytest.raises(NotImplementedError):
        await ch.lookup("k")                                       # no local record: Weibo cannot be asked
    again = await ch.publish(notice(), UNIT, "k")
    assert again.deduplicated and len(env["app"][STATE].posts) == 1


async def test_rejections_that_never_posted_are_not_ambiguous(env: dict[str, Any]) -> None:
    _script(env, [10002])
    with pytest.raises(RetryLater) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert not info.value.ambiguous


async def test_platform_error_text_is_scrubbed_of_the_token() -> None:
    echo = web.Application()

    async def share(request: web.Request) -> web.Response:
        form = await request.post()
        return web.json_response({"request": "/2/statuses/share.json", "error_code": 29999,
                                  "error": f"Parameter (access_token)'s value invalid, get ({form['access_token']})"},
                                 status=400)

    echo.router.add_post("/2/statuses/share.json", share)
    async with TestServer(echo) as server, aiohttp.ClientSession() as session:
        env = {"server": server, "session": session}
        with pytest.raises(PermanentError) as info:
            await channel(env).publish(notice(), UNIT, "k")
    text = " ".join([info.value.reason, info.value.detail, str(info.value)])
    assert TOKEN not in text and "29999" in info.value.reason and "***" in info.value.reason


async def test_rate_limit_status_calls_are_recorded_without_the_token(env: dict[str, Any]) -> None:
    _script(env, [10023])
    with pytest.raises(RetryLater):
        await channel(env).publish(notice(), UNIT, "k")
    (status_call,) = [e for e in env["app"][RECORDER].entries if e["path"] == "/2/account/rate_limit_status.json"]
    assert status_call["headers"]["authorization"] == "***" and TOKEN not in str(status_call)


def _faults(env: dict[str, Any]) -> FaultInjector:
    return env["app"][FAULTS]


def _script(env: dict[str, Any], codes: list[int]) -> None:
    _faults(env).configure(Faults(script=codes))
