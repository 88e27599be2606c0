"""CMS REST channel: article rendering, signing, idempotency, lookup and every status code's outcome."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import partial
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from channels.base import AccountConfig, AuthExpired, PermanentError, RetryLater
from channels.signing import sign
from channels.signing import verify_signature as verify
from channels.website.cms import CmsChannel, CmsOptions, render_article
from core.http_headers import parse_retry_after as _retry_after
from core.models import UnitRef
from sandbox.cms import STATE, build_app
from sandbox.common import FAULTS, RECORDER, Faults
from tests.fakes import make_context, make_item, refused_url

UNIT = UnitRef("ezhou-fgw", "鄂州市发展和改革委员会")
SECRET = "cms-shared-secret"
BODY = """
<style>p{color:red}</style><script>document.write('x')</script>
<p style="text-indent:2em" onclick="evil()">各省、自治区、直辖市人民政府，国务院各部委、各直属机构：</p>
<p>现将《2026年政务公开工作要点》印发给你们，请结合实际认真贯彻落实。</p>
<table border="1"><tr><th>序号</th><th>任务</th></tr><tr><td>1</td><td>深化政策解读</td></tr></table>
<p><img src="../../images/2026/fig.jpg" alt="图解"></p>
"""


# The one notice this module's tests publish; each test changes only what it is about.
notice = partial(make_item, guid="content_7000001", id=9,
                 url="https://www.gov.cn/zhengce/content/202611/content_7000001.htm",
                 title="国务院办公厅关于印发2026年政务公开工作要点的通知", content=BODY,
                 published_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
                 detected_at=datetime(2026, 11, 24, 10, 5, tzinfo=UTC))


def test_render_article_is_clean_and_credited() -> None:
    article = render_article(notice(), CmsOptions(column="zcwj"))
    html = article["content_html"]
    assert "<script" not in html and "<style" not in html and "onclick" not in html and "color:red" not in html
    assert "<table" in html and "深化政策解读" in html
    assert 'src="https://www.gov.cn/zhengce/images/2026/fig.jpg"' in html
    assert html.endswith("</p>") and "转载自 中国政府网" in html and notice().url in html
    assert article["published_at"] == "2026-11-24T10:00:00+00:00" and article["column"] == "zcwj"


def test_without_the_footer_the_credit_is_still_sent_as_fields() -> None:
    article = render_article(notice(), CmsOptions(column="zcwj", include_footer=False))
    assert "转载自" not in article["content_html"] and "原文链接" not in article["content_html"]
    assert article["credit"] == "转载自 中国政府网" and article["origin"] == "中国政府网"
    assert article["source_url"] == notice().url


async def test_sandbox_requires_the_credit_field(env: dict[str, Any]) -> None:
    raw = json.dumps({"key": "k", "title": "t", "content_html": "<p>x</p>", "source_url": "https://www.gov.cn/1",
                      "column": "zcwj", "sent_at": int(time.time())}).encode()
    headers = {"X-Timestamp": str(json.loads(raw)["sent_at"]), "X-Signature": sign(SECRET, raw),
               "X-Idempotency-Key": "k", "Content-Type": "application/json"}
    async with env["session"].post(env["server"].make_url("/api/reprints"), data=raw, headers=headers) as resp:
        assert resp.status == 422 and "credit" in (await resp.json())["error"]


async def test_the_source_link_is_the_page_readers_can_open(env: dict[str, Any]) -> None:
    item = notice()
    assert item.canonical_url.startswith("//")             # the identity key: no scheme, not a link
    assert render_article(item, CmsOptions(column="zcwj"))["source_url"] == item.url
    raw = json.dumps({"key": "k", "title": "t", "content_html": "<p>x</p>", "source_url": item.canonical_url,
                      "credit": "转载自 中国政府网", "column": "zcwj", "sent_at": int(time.time())}).encode()
    headers = {"X-Timestamp": str(json.loads(raw)["sent_at"]), "X-Signature": sign(SECRET, raw),
               "X-Idempotency-Key": "k", "Content-Type": "application/json"}
    async with env["session"].post(env["server"].make_url("/api/reprints"), data=raw, headers=headers) as resp:
        assert resp.status == 422 and "source_url" in (await resp.json())["error"]


async def test_lost_reply_is_retried_in_call_and_answered_by_the_key(env: dict[str, Any]) -> None:
    env["app"][FAULTS].configure(Faults(drop_responses=1))
    receipt = await channel(env, connect_retries=1).publish(notice(), UNIT, "k")
    assert receipt.deduplicated and receipt.note == "CMS 已存在相同幂等键的稿件"
    assert env["app"][FAULTS].dropped == 1 and len(env["app"][STATE].articles) == 1


def test_signature_helpers() -> None:
    assert verify(SECRET, b"{}", sign(SECRET, b"{}"))
    assert not verify(SECRET, b"{}", sign("other", b"{}")) and not verify(SECRET, b"{}", None)


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    assert _retry_after("120", now) == 120
    assert _retry_after(format_datetime(datetime(2026, 11, 25, 2, 1, tzinfo=UTC), usegmt=True), now) == 60
    assert _retry_after("soon", now) is None and _retry_after(None, now) is None


@pytest.fixture
async def env() -> AsyncIterator[dict[str, Any]]:
    app = build_app(secret=SECRET, public_url="https://www.ezhou.gov.cn", columns={"zcwj"})
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        yield {"app": app, "server": server, "session": session}


def channel(env: dict[str, Any], secret: str = SECRET, base_url: str | None = None, **kw: Any) -> CmsChannel:
    account = AccountConfig(id="web-fgw", kind="cms", base_url=base_url or str(env["server"].make_url("")),
                            credentials={"secret": secret}, options={"column": "zcwj", "connect_retries": 0, **kw})
    return CmsChannel(account, make_context(env["session"]))


def script(env: dict[str, Any], codes: list[int]) -> None:
    env["app"][FAULTS].configure(Faults(script=codes))


async def test_publish_is_idempotent_and_can_be_looked_up(env: dict[str, Any]) -> None:
    ch = channel(env)
    first = await ch.publish(notice(), UNIT, "key-1")
    assert first.url == f"https://www.ezhou.gov.cn/zcwj/{first.external_id}.html" and first.note is None
    again = await ch.publish(notice(), UNIT, "key-1")
    assert again.external_id == first.external_id and again.note == "CMS 已存在相同幂等键的稿件"
    assert not again.possible_duplicate and again.deduplicated and not first.deduplicated
    found = await ch.lookup("key-1")
    assert found is not None and found.external_id == first.external_id
    assert await ch.lookup("key-2") is None
    entry = env["app"][RECORDER].entries[0]
    assert entry["headers"]["x-idempotency-key"] == "key-1"
    assert entry["headers"]["x-signature"].startswith("sha256=") and entry["body"]["key"] == "key-1"


async def test_bad_secret_is_auth_expired(env: dict[str, Any]) -> None:
    with pytest.raises(AuthExpired) as info:
        await channel(env, secret="wrong").publish(notice(), UNIT, "k")
    assert info.value.code == 401 and "wrong" not in info.value.reason + info.value.detail
    with pytest.raises(AuthExpired):
        await channel(env, secret="wrong").lookup("k")


async def test_unknown_column_is_permanent(env: dict[str, Any]) -> None:
    with pytest.raises(PermanentError) as info:
        await channel(env, column="nope").publish(notice(), UNIT, "k")
    assert info.value.code == 422 and "unknown column" in info.value.reason


@pytest.mark.parametrize(("status", "expected"), [
    (400, PermanentError), (401, AuthExpired), (403, AuthExpired), (409, PermanentError), (422, PermanentError),
    (429, RetryLater), (500, RetryLater), (502, RetryLater), (503, RetryLater), (418, PermanentError),
])
async def test_status_codes(env: dict[str, Any], status: int, expected: type[Exception]) -> None:
    script(env, [status])
    with pytest.raises(expected) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert info.value.code == status
    if status == 429:
        assert info.value.retry_after == 1


async def test_lookup_errors(env: dict[str, Any]) -> None:
    script(env, [503])
    with pytest.raises(RetryLater):
        await channel(env).lookup("k")


async def test_stale_timestamp_is_rejected(env: dict[str, Any]) -> None:
    raw = json.dumps({"key": "k"}).encode()
    stamp = str(int(time.time()) - 3600)
    headers = {"X-Timestamp": stamp, "X-Signature": sign(SECRET, raw), "Content-Type": "application/json"}
    async with env["session"].post(env["server"].make_url("/api/reprints"), data=raw, headers=headers) as resp:
        assert resp.status == 401 and "stale" in (await resp.json())["error"]


async def test_outage_and_network_errors_retry(env: dict[str, Any]) -> None:
    env["app"][FAULTS].configure(Faults(outages=[(0.0, 3600.0)]))
    with pytest.raises(RetryLater) as info:
        await channel(env).publish(notice(), UNIT, "k")
    assert "503" in info.value.reason
    with pytest.raises(RetryLater) as info:
        await channel(env, base_url=refused_url()).publish(notice(), UNIT, "k")
    assert "无法连接" in info.value.reason


def test_base_url_is_required(env: dict[str, Any]) -> None:
    account = AccountConfig(id="web", kind="cms", credentials={"secret": SECRET}, options={"column": "zcwj"})
    with pytest.raises(ValueError, match="base_url"):
        CmsChannel(account, make_context(env["session"]))
