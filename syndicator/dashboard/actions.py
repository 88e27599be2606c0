"""Operator actions added for the operator's day: bulk retry / skip of the ticked deliveries, and 立即检查
of one source. Like every action they go through ``Operations`` (audited with who did it), behind the
login and CSRF guard, and answer with a flash message on the page the operator came from."""

from __future__ import annotations

from aiohttp import web

from syndicator.dashboard import render as r
from syndicator.dashboard.views import actor, back_with, operations_for

MAX_IDS = 1000            # a ticked page is at most 50; anything far beyond that is not a person's form


async def bulk(request: web.Request) -> web.Response:
    form = await request.post()
    what = str(form.get("what", ""))
    raw = [str(v) for v in form.getall("ids", [])][:MAX_IDS + 1]
    ids = [n for v in raw if (n := r.whole_number(v)) is not None]
    ops = operations_for(request)
    if len(ids) != len(raw):
        outcome = (False, "投递编号无效，未做任何操作")
    elif what == "retry":
        o = await ops.retry_many(ids, actor(request))
        outcome = (o.ok, o.message)
    elif what == "skip":
        o = await ops.skip_many(ids, str(form.get("reason", ""))[:200], actor(request))
        outcome = (o.ok, o.message)
    else:
        outcome = (False, "请选择“批量重试”或“批量跳过”")
    return back_with(request, form, "/deliveries", *outcome)


async def check_source(request: web.Request) -> web.Response:
    """Poll one source now; the request waits for the poll (bounded by the watcher's fetch deadlines)."""
    form = await request.post()
    o = await operations_for(request).check_source(str(form.get("source_id", ""))[:200], actor(request))
    return back_with(request, form, "/sources", o.ok, o.message)
