"""群发 batching (issue 14): when a unit has more items due than its mass-send quota allows, the waiting items go out
together as one mass send of up to 8 articles when the quota resets (or after ``mass_batch_window_s``)."""

from __future__ import annotations

import json

from core.models import DeliveryState
from sandbox import wechat as wechat_box
from sandbox.common import RECORDER
from tests.channels.wechat.test_platform_errors import WX_APPID, WX_SECRET, wechat_rig
from tests.dispatch_support import enqueue, settle
from tests.fakes import make_item


def mass_sends(app) -> list[dict]:
    return [e for e in app[RECORDER].entries if e["path"].endswith("mass/sendall") and e["errcode"] == 0]


def drafts(app) -> list[int]:
    """Article counts of the drafts the look-alike accepted."""
    return [len(e["body"]["articles"]) for e in app[RECORDER].entries
            if e["path"].endswith("draft/add") and e["errcode"] == 0]


async def test_items_beyond_the_daily_quota_go_out_together_when_it_resets(serve, sqlite_store, clock,
                                                                           session) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session, mode="mass_send", mass_quota=1)
    await enqueue(rig, make_item(1))
    await settle(rig.dispatcher)                       # today's one mass send
    await enqueue(rig, make_item(2), make_item(3), make_item(4))
    await settle(rig.dispatcher)
    waiting = [d for d in await rig.store.deliveries() if d.item_id != 1]
    assert {d.state for d in waiting} == {DeliveryState.RETRYING}
    assert all("群发" in (d.last_error or "") for d in waiting)
    assert len({d.next_attempt_at for d in waiting}) == 1           # all at the quota's reset
    assert len(mass_sends(app)) == 1
    app[wechat_box.STATE].mass_quota = 1               # a new day: the look-alike's quota is granted again
    clock.advance(days=1)
    await settle(rig.dispatcher)
    clock.advance(seconds=10)
    await settle(rig.dispatcher)
    sends = mass_sends(app)
    assert len(sends) == 2 and drafts(app)[-1] == 3    # one mass send carrying the three waiting items
    done = await rig.store.deliveries()
    assert {d.state for d in done} == {DeliveryState.DELIVERED}
    assert len({d.external_id for d in done if d.item_id != 1}) == 1
    assert all("合并为一次群发" in (d.note or "") for d in done if d.item_id != 1)


async def test_a_batch_window_groups_up_to_eight_articles_per_mass_send(serve, sqlite_store, clock,
                                                                        session) -> None:
    app, rig = await wechat_rig(serve, sqlite_store, clock, session, mode="mass_send", mass_quota=5,
                                mass_batch_window_s=600)
    await enqueue(rig, *(make_item(n) for n in range(1, 11)))
    await settle(rig.dispatcher)
    assert drafts(app) == [8] and len(mass_sends(app)) == 1     # a full batch goes at once; two wait for company
    clock.advance(seconds=600)
    await settle(rig.dispatcher)
    clock.advance(seconds=10)
    await settle(rig.dispatcher)
    assert drafts(app) == [8, 2] and len(mass_sends(app)) == 2
    assert {d.state for d in await rig.store.deliveries()} == {DeliveryState.DELIVERED}
    ids = [e["body"]["clientmsgid"] for e in mass_sends(app)]
    assert len(set(ids)) == 2                           # one clientmsgid per batch: a resend is refused (45065)


async def test_lookalike_refuses_a_draft_of_more_than_eight_articles(serve, session) -> None:
    url = await serve(wechat_box.build_app(appid=WX_APPID, secret=WX_SECRET))
    creds = json.dumps({"grant_type": "client_credential", "appid": WX_APPID, "secret": WX_SECRET}).encode()
    async with session.post(f"{url}/cgi-bin/stable_token", data=creds) as resp:
        token = (await resp.json())["access_token"]
    body = json.dumps({"articles": [{"title": f"第{n}篇"} for n in range(9)]}, ensure_ascii=False).encode()
    async with session.post(f"{url}/cgi-bin/draft/add", params={"access_token": token}, data=body) as resp:
        assert (await resp.json())["errcode"] == 45008
