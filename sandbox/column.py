"""A unit's own website without an API, as the hub sees it: a column list page and its article pages.

``/{site}/zzbz/index.html`` lists the column's reprints, newest first, the way vendor CMSs (TRS, 大汉) print
them: ``<li><a href="../art/N.html" title="full title">title cut to 28 characters...</a><span>date</span>``.
``charset = "gbk"`` serves GBK bytes named only in ``<meta http-equiv>`` (as TRS portals do), "utf-8" names it in
the header too. ``/{site}/art/N.html`` is the reprint page (its ``<title>`` and ``<h1>`` carry the title).

``POST /_sandbox/column/{site}`` ``{"title", "body"?}`` publishes a reprint, as the unit's 信息员 would by hand.
``follow`` plays that 信息员 for the demo: it watches what a robot look-alike received and, ``delay_s`` after a
notice naming the site's column page, publishes the notice's title. Faults (``/_sandbox/faults``) make the
column page fail (5xx, outage), to show a verification that could not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from sandbox.common import RECORDER, Faults, Recorder, add_sandbox_routes
from sandbox.upstream import encoded, fault_gate

CUT = 28
_TITLE_LINE = re.compile(r"标题：(.+)")


@dataclass
class Reprint:
    n: int
    title: str
    body: str
    at: datetime


@dataclass
class ColumnSite:
    name: str = "鄂州市审计局"
    charset: str = "gbk"
    reprints: list[Reprint] = field(default_factory=list)


@dataclass
class ColumnState:
    sites: dict[str, ColumnSite] = field(default_factory=dict)
    counter: int = 0

    def publish(self, site: str, title: str, body: str = "") -> Reprint:
        self.counter += 1
        r = Reprint(self.counter, title, body or f"<p>{html.escape(title)}</p>", datetime.now(UTC))
        self.sites.setdefault(site, ColumnSite()).reprints.insert(0, r)
        return r


STATE = web.AppKey("column_state", ColumnState)


def _shown(title: str) -> str:
    return title if len(title) <= CUT else title[:CUT] + "..."


def _head(title: str, charset: str) -> str:
    return (f'<head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
            f"<title>{html.escape(title)}</title></head>")


async def column_page(request: web.Request) -> web.Response:
    if (failed := await fault_gate(request)) is not None:
        return failed
    site = request.app[STATE].sites.get(request.match_info["site"])
    if site is None:
        raise web.HTTPNotFound()
    items = "".join(
        f'<li><a href="../art/{r.n}.html" title="{html.escape(r.title)}" target="_blank">{html.escape(_shown(r.title))}'
        f'</a><span class="date">{(r.at + timedelta(hours=8)):%Y-%m-%d}</span></li>' for r in site.reprints)
    text = (f"<!DOCTYPE html><html>{_head('转载转发 - ' + site.name, site.charset)}<body>"
            f'<div class="nav"><a href="../index.html">首页</a> &gt; 转载转发</div>'
            f'<ul class="list">{items}</ul></body></html>')
    return encoded(text, site.charset, "text/html", in_header=site.charset.lower() in ("utf-8", "utf8"))


async def article_page(request: web.Request) -> web.Response:
    if (failed := await fault_gate(request)) is not None:
        return failed
    site = request.app[STATE].sites.get(request.match_info["site"])
    n = int(request.match_info["n"])
    r = next((x for x in (site.reprints if site else []) if x.n == n), None)
    if site is None or r is None:
        raise web.HTTPNotFound()
    text = (f"<!DOCTYPE html><html>{_head(r.title + ' - ' + site.name, site.charset)}<body>"
            f"<h1>{html.escape(r.title)}</h1><div class=\"content\">{r.body}</div></body></html>")
    return encoded(text, site.charset, "text/html", in_header=site.charset.lower() in ("utf-8", "utf8"))


async def publish(request: web.Request) -> web.Response:
    data = await request.json()
    title = str(data.get("title") or "").strip()
    if not title:
        return web.json_response({"error": "title is required"}, status=400)
    site = request.match_info["site"]
    r = request.app[STATE].publish(site, title, str(data.get("body") or ""))
    request.app[RECORDER].record(request, data, site=site)
    return web.json_response({"n": r.n, "url": f"/{site}/art/{r.n}.html"})


async def follow(state: ColumnState, robots: Recorder, base_url: str, delay_s: float, *, poll_s: float = 0.5
                 ) -> None:
    """Play the 信息员 of every site: ``delay_s`` after a notice naming ``{base_url}/{site}/``, publish its title."""
    seen = 0
    pending: set[asyncio.Task[None]] = set()

    async def later(site: str, title: str) -> None:
        await asyncio.sleep(delay_s)
        state.publish(site, title)

    try:
        while True:
            for entry in robots.entries[seen:]:
                body = entry.get("body") or {}
                content = str((body.get("markdown") or {}).get("content") or (body.get("markdown") or {}).get("text")
                              or "")
                title = _TITLE_LINE.search(content)
                if "【转载任务】" not in content or title is None:
                    continue
                for site in state.sites:
                    if f"{base_url}/{site}/" in content:
                        task = asyncio.create_task(later(site, title.group(1).strip()))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
            seen = len(robots.entries)
            await asyncio.sleep(poll_s)
    finally:
        for task in pending:
            task.cancel()
        for task in list(pending):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def build_app(faults: Faults | None = None, *, sites: dict[str, dict[str, str]] | None = None,
              state: ColumnState | None = None) -> web.Application:
    app = web.Application()
    add_sandbox_routes(app, faults)
    app[STATE] = state or ColumnState()
    for site, spec in (sites or {}).items():
        app[STATE].sites.setdefault(site, ColumnSite(**spec))
    app.router.add_get("/{site}/zzbz/index.html", column_page)
    app.router.add_get("/{site}/art/{n:\\d+}.html", article_page)
    app.router.add_post("/_sandbox/column/{site}", publish)
    return app
