"""Weibo as the real API behaves (issue 14): the look-alike produces 20017/20019/21321/20015 by its own rules and
counts text length by the documented rule independently of the channel; the hub maps each to its outcome.
"""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest

from core.models import DeliveryState
from sandbox import weibo as weibo_box
from tests.channels.wechat.test_platform_errors import WEIBO_TOKEN, weibo_account
from tests.dispatch_support import enqueue, make_rig, settle
from tests.fakes import make_item

LINK = "https://www.ezhou.gov.cn/zzbz/1.html"


async def share(session: Any, url: str, status: str, *, token: str = WEIBO_TOKEN,
                rip: str = "61.183.1.2") -> tuple[int, dict[str, Any]]:
    async with session.post(url + weibo_box.SHARE, data={"access_token": token, "status": status, "rip": rip}) as r:
        return r.status, await r.json()


@pytest.fixture
async def box(serve) -> tuple[Any, str]:
    app = weibo_box.build_app(tokens={WEIBO_TOKEN: "ezhou.gov.cn", "2.00second-user": "ezhou.gov.cn"},
                              unaudited_user_limit=1)
    return app, await serve(app)


async def test_same_text_is_20019_and_similar_text_is_20017(box, session) -> None:
    _app, url = box
    assert (await share(session, url, f"【通知】全文 {LINK}"))[0] == 200
    assert (await share(session, url, f"【通知】全文 {LINK}"))[1]["error_code"] == 20019
    status, body = await share(session, url, f"【通知】 全文！ {LINK}?from=weibo")     # same words, other link
    assert status == 400 and body["error_code"] == 20017 and body["error"] == "Repeat content"
    assert (await share(session, url, f"【另一通知】全文 {LINK}"))[0] == 200


async def test_unaudited_app_refuses_users_beyond_its_limit_with_21321(box, session) -> None:
    _app, url = box
    status, body = await share(session, url, f"【通知】 {LINK}", token="2.00second-user")
    assert status == 403 and body["error_code"] == 21321


@pytest.mark.parametrize("what", ["token", "rip"])
async def test_banned_token_or_ip_is_20015(box, session, what: str) -> None:
    _app, url = box
    async with session.post(url + "/_sandbox/ban", json={what: WEIBO_TOKEN if what == "token" else "61.183.1.2"}):
        pass
    assert (await share(session, url, f"【通知】 {LINK}"))[1]["error_code"] == 20015


@pytest.mark.parametrize(("text", "ok"), [
    ("政" * 121 + " " + LINK, True),          # 242 + 1 + 36 = 279 half-width units: 140 after rounding up
    ("政" * 122 + " " + LINK, False),         # 281: 141
    ("a" * 243 + " " + LINK, True),           # 280: 140
    ("a" * 244 + " " + LINK, False),          # 281: 141
])
async def test_length_is_counted_by_the_documented_rule(box, session, text: str, ok: bool) -> None:
    _app, url = box
    status, body = await share(session, url, text)
    assert (status == 200) is ok, body
    if not ok:
        assert body["error_code"] == 20012


def test_lookalike_counts_length_without_the_channels_code() -> None:
    tree = ast.parse(inspect.getsource(weibo_box))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.startswith("channels") for m in imported)


async def test_banned_account_is_held_by_the_hub_through_the_lookalikes_own_rule(
        serve, sqlite_store, clock, session) -> None:
    app = weibo_box.build_app(tokens={WEIBO_TOKEN: "ezhou.gov.cn"})
    rig = await make_rig(sqlite_store, clock, session, weibo_account(await serve(app)))
    app[weibo_box.STATE].banned.add("61.183.1.2")
    await enqueue(rig, make_item(1), make_item(2))
    await settle(rig.dispatcher)
    assert {d.state for d in await rig.store.deliveries()} == {DeliveryState.HELD}
    assert (await rig.store.account_states())[rig.account.id][0] == "platform_hold"


async def test_similar_post_on_a_first_attempt_fails_for_a_person(serve, sqlite_store, clock, session) -> None:
    app = weibo_box.build_app(tokens={WEIBO_TOKEN: "ezhou.gov.cn"})
    rig = await make_rig(sqlite_store, clock, session, weibo_account(await serve(app)))
    first = make_item(1)
    await enqueue(rig, first)
    await settle(rig.dispatcher)
    # The same document under another URL (another feed): same words, another link -> 20017 by the rule.
    twin = make_item(2, title=first.title, url="https://www.gov.cn/zhengce/content/202611/content_7999999.htm")
    await enqueue(rig, twin)
    await settle(rig.dispatcher)
    states = {d.item_id: d for d in await rig.store.deliveries()}
    assert states[1].state is DeliveryState.DELIVERED
    assert states[2].state is DeliveryState.FAILED and "20017" in (states[2].last_error or "")
