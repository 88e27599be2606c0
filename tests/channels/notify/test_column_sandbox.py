"""The manual unit's column look-alike: GBK like a TRS portal, and the demo's simulated 信息员."""

from __future__ import annotations

import asyncio

from channels.notify.robots import WecomRobot
from sandbox.column import ColumnState, follow
from sandbox.column import build_app as build_column
from sandbox.common import RECORDER
from sandbox.robots import build_robot_app

TITLE = "国务院关于印发《2026年国务院立法工作计划》的通知"


async def test_column_page_is_gbk_named_only_in_the_document(serve, session) -> None:
    state = ColumnState()
    base = await serve(build_column(sites={"ezsj": {"name": "鄂州市审计局", "charset": "gbk"}}, state=state))
    state.publish("ezsj", TITLE)
    async with session.get(f"{base}/ezsj/zzbz/index.html") as resp:
        raw = await resp.read()
        assert "charset" not in resp.headers["Content-Type"]
    assert 'charset=gbk' in raw.decode("ascii", "replace") and TITLE[:10].encode("gbk") in raw
    async with session.get(f"{base}/ezsj/art/1.html") as resp:
        assert resp.status == 200 and TITLE.encode("gbk") in await resp.read()
    async with session.get(f"{base}/nowhere/zzbz/index.html") as resp:
        assert resp.status == 404


async def test_the_simulated_informant_reprints_after_the_notice(serve, session) -> None:
    robots = build_robot_app(wecom_keys={"k1"}, dingtalk={})
    robots_url = await serve(robots)
    state = ColumnState()
    base = await serve(build_column(sites={"ezsj": {}}, state=state))
    task = asyncio.create_task(follow(state, robots[RECORDER], base, 0.05, poll_s=0.01))
    try:
        await WecomRobot(session, "k1", robots_url).send("【转载任务】" + TITLE,
                                                         f"请转载到（{base}/ezsj/zzbz/index.html）。\n标题：{TITLE}")
        await WecomRobot(session, "k1", robots_url).send("别的消息", f"标题：无关 {base}/ezsj/")
        for _ in range(200):
            if state.sites["ezsj"].reprints:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        assert [r.title for r in state.sites["ezsj"].reprints] == [TITLE]
    finally:
        task.cancel()
