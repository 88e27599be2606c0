"""gov.cn-like and Hubei-portal-like pages on the upstream sandbox, built from its ``Doc``s.

Which docs appear where (by ``Doc.feeds``): ``gwy`` → 国务院信息 list, 最新政策 (``ZUIXINZHENGCE.json``
behind a JavaScript-shell HTML page) and the policy library (``gongwen``); ``jiedu`` → 政策解读 JSON;
``library`` → policy library only; ``bumen`` → policy library ``bumenfile``; ``province`` or
``hubei-<column>`` → the Hubei lists ``/zfwj/<column>/index.shtml`` (``province`` means ``ezf``).

Every page is also served under ``/gated/…`` behind a bot gate like the Hubei portal's: without
clearance the answer is HTTP 412 with a script that derives a cookie and reloads. A plain HTTP
client never gets through; a real browser does. ``POST /_sandbox/gate`` with
``{"revoke": true, "stall_next": 1}`` invalidates clearances / withholds the next challenges, to
exercise a client's "cookies stopped working" path.

Encodings are declared the way each site does: gov.cn-like pages in ``UpstreamState.html_charset``
("utf-8", or "gbk" for older columns) named in both the Content-Type header and ``<meta charset>``;
Hubei-like TRS pages in ``GovsiteState.hubei_charset`` ("gbk", or "utf-8" for the newer templates)
named only in the page's ``http-equiv`` meta, never in the header.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from sandbox import govsite_pages as pages
from sandbox.upstream import UPSTREAM, Doc, article, base_url_of, encoded, fault_gate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
GATE_STATUS = 412
BOT_MARKERS = ("python", "aiohttp", "curl", "wget", "go-http", "java/", "okhttp", "bot", "spider", "headless")


@dataclass
class GovsiteState:
    list_size: int = 20                       # gov.cn list pages
    hubei_page_size: int = 10                 # TRS list pages
    hubei_charset: str = "gbk"                # TRS pages: "gbk" (declared gb2312) or "utf-8"
    issued: set[str] = field(default_factory=set)    # gate sids whose clearance is valid
    stall_next: int = 0                       # next challenges sent without their script
    challenges: int = 0                       # 412 answers given
    passes: int = 0                           # gated pages served with a valid clearance

    def revoke(self) -> None:
        self.issued.clear()


GOVSITE = web.AppKey("govsite_state", GovsiteState)


def clearance_for(sid: str) -> str:
    """What the gate script computes from the sid (mirrors ``pages.gate_page``)."""
    h = 7
    for ch in sid:
        h = (h * 31 + ord(ch)) % 1_000_000_007
    return f"{sid}.{h}"


def gated(handler: Handler) -> Handler:
    """Serve ``handler`` only to a client holding a valid clearance cookie; else 412 + script."""

    async def wrapper(request: web.Request) -> web.StreamResponse:
        state = request.app[GOVSITE]
        sid = request.cookies.get("__gate_sid", "")
        if sid in state.issued and request.cookies.get("__gate_clr") == clearance_for(sid):
            state.passes += 1
            return await handler(request)
        state.challenges += 1
        sid = secrets.token_hex(8)
        solvable = state.stall_next <= 0
        state.stall_next = max(0, state.stall_next - 1)
        if solvable:
            state.issued.add(sid)
        response = web.Response(status=GATE_STATUS, text=pages.gate_page(sid, solvable=solvable),
                                content_type="text/html", charset="utf-8")
        response.set_cookie("__gate_sid", sid, path="/", httponly=True)
        return response

    return wrapper


def _gwy_docs(request: web.Request, feed_names: tuple[str, ...], limit: int) -> list[Doc]:
    docs = [d for d in request.app[UPSTREAM].docs if d.feeds & set(feed_names)]
    return sorted(docs, key=lambda d: (d.published_at, d.id), reverse=True)[:limit]


async def pushinfo(request: web.Request) -> web.StreamResponse:
    if (failed := await fault_gate(request)) is not None:
        return failed
    docs = _gwy_docs(request, ("gwy",), request.app[GOVSITE].list_size)
    charset = request.app[UPSTREAM].html_charset
    return encoded(pages.pushinfo_page(docs, charset), charset, "text/html")


async def zuixin(request: web.Request) -> web.StreamResponse:
    """The HTML page is a JavaScript shell: no items without running its script."""
    if (failed := await fault_gate(request)) is not None:
        return failed
    charset = request.app[UPSTREAM].html_charset
    return encoded(pages.zuixin_page(charset), charset, "text/html")


def json_list(feed: str, items: Callable[[list[Doc], str], list[dict[str, str]]]) -> Handler:
    """A gov.cn JSON data file (``ZUIXINZHENGCE.json``, ``ZCJD_QZ.json``): a root array of the feed's docs."""

    async def view(request: web.Request) -> web.StreamResponse:
        if (failed := await fault_gate(request)) is not None:
            return failed
        docs = _gwy_docs(request, (feed,), request.app[GOVSITE].list_size)
        body = json.dumps(items(docs, base_url_of(request)), ensure_ascii=False)
        return encoded(body, request.app[UPSTREAM].html_charset, "application/json")

    return view


zuixin_json = json_list("gwy", pages.zuixin_items)
jiedu = json_list("jiedu", pages.jiedu_items)


def _browser_like(user_agent: str) -> bool:
    lowered = user_agent.lower()
    return user_agent.startswith("Mozilla/5.0") and not any(m in lowered for m in BOT_MARKERS)


LIBRARY_CATEGORIES = ("gongwen", "bumenfile", "otherfile", "gongbao")


async def library(request: web.Request) -> web.StreamResponse:
    """Policy library search: its firewall answers non-browser User-Agents with 403 HTML. For
    ``t=zhengcelibrary`` the top-level ``listVO`` is null and ``totalCount`` 0; the hits are under
    ``searchVO.catMap.<category>.listVO`` (docs/upstream.md). Docs in feed ``bumen`` are 部门文件,
    in ``jiedu`` 解读 (otherfile); the rest 国务院文件 (gongwen); ``gongbao`` is empty."""
    if not _browser_like(request.headers.get("User-Agent", "")):
        return web.Response(status=403, text=pages.denied_page(request.path), content_type="text/html",
                            charset="utf-8")
    if (failed := await fault_gate(request)) is not None:
        return failed
    try:
        page = max(1, int(request.query.get("p", "1")))
        size = min(100, max(1, int(request.query.get("n", "20"))))
    except ValueError:
        return web.json_response({"code": 400, "msg": "参数错误", "searchVO": None}, status=400)
    query = request.query.get("q", "").strip()
    docs = [d for d in _gwy_docs(request, ("gwy", "library", "bumen"), 10_000) if query in d.title]
    if request.query.get("sortType") == "0":
        docs.reverse()
    base = base_url_of(request)
    by_category: dict[str, list[Doc]] = {c: [] for c in LIBRARY_CATEGORIES}
    for d in docs:
        by_category["bumenfile" if "bumen" in d.feeds else "otherfile" if d.feeds == {"jiedu"} else "gongwen"].append(d)
    cat_map = {}
    for category, found in by_category.items():
        chosen = found[(page - 1) * size: page * size]
        cat_map[category] = {"totalCount": len(found), "listVO": [pages.library_item(d, base, query) for d in chosen]}
    vo = {"totalCount": 0, "totalpage": math.ceil(len(docs) / size), "listVO": None, "catMap": cat_map}
    body = json.dumps({"code": 200, "msg": "操作成功", "searchVO": vo}, ensure_ascii=False)
    return encoded(body, request.app[UPSTREAM].html_charset, "application/json")


def _hubei_docs(request: web.Request, column: str) -> list[Doc]:
    names = {f"hubei-{column}"} | ({"province"} if column == "ezf" else set())
    docs = [d for d in request.app[UPSTREAM].docs if d.feeds & names]
    return sorted(docs, key=lambda d: (d.published_at, d.id), reverse=True)


def _trs(request: web.Request, render: Callable[[str], str]) -> web.Response:
    """A TRS page in the portal's charset, named only in the page's meta, as on the portal."""
    charset = request.app[GOVSITE].hubei_charset
    return encoded(render(charset), charset, "text/html", in_header=False)


async def hubei_list(request: web.Request) -> web.StreamResponse:
    column = request.match_info["column"]
    if column not in pages.HUBEI_COLUMNS:
        raise web.HTTPNotFound()
    if (failed := await fault_gate(request)) is not None:
        return failed
    page = int(request.match_info.get("page") or 0)
    docs = _hubei_docs(request, column)
    size = request.app[GOVSITE].hubei_page_size
    count = max(1, math.ceil(len(docs) / size))
    if page >= count:
        raise web.HTTPNotFound()
    chosen = docs[page * size:(page + 1) * size]
    return _trs(request, lambda charset: pages.hubei_list_page(chosen, column, page, count, len(docs), charset))


async def hubei_article(request: web.Request) -> web.StreamResponse:
    column, doc_id = request.match_info["column"], int(request.match_info["id"])
    doc = next((d for d in _hubei_docs(request, column) if d.id == doc_id), None)
    if doc is None or pages.hubei_path(doc, column) != request.path.removeprefix("/gated"):
        raise web.HTTPNotFound()
    return _trs(request, lambda charset: pages.hubei_article_page(doc, column, charset))


async def gate_control(request: web.Request) -> web.Response:
    data = await request.json() if request.can_read_body else {}
    state = request.app[GOVSITE]
    if data.get("revoke"):
        state.revoke()
    state.stall_next = int(data.get("stall_next", state.stall_next))
    return web.json_response({"challenges": state.challenges, "passes": state.passes,
                              "stall_next": state.stall_next, "valid_clearances": len(state.issued)})


ROUTES: list[tuple[str, Handler]] = [
    ("/pushinfo/v150203/", pushinfo),
    ("/pushinfo/v150203/index.htm", pushinfo),
    ("/zhengce/zuixin/", zuixin),
    ("/zhengce/zuixin/home.htm", zuixin),
    ("/zhengce/zuixin/ZUIXINZHENGCE.json", zuixin_json),
    ("/zhengce/jiedu/ZCJD_QZ.json", jiedu),
    ("/search-gov/data", library),
    ("/zfwj/{column}/index.shtml", hubei_list),
    ("/zfwj/{column}/index_{page:\\d+}.shtml", hubei_list),
    ("/zfwj/{column}/{month:\\d{6}}/t{day:\\d{8}}_{id:\\d+}.shtml", hubei_article),
]


def add_govsite_routes(app: web.Application, state: GovsiteState | None = None) -> None:
    """Mount the pages (and their ``/gated`` twins, including gated gov.cn articles) on the
    upstream sandbox app, which must already hold ``app[UPSTREAM]``."""
    if UPSTREAM not in app:
        raise RuntimeError("add_govsite_routes needs the upstream sandbox app (app[UPSTREAM] is missing)")
    app[GOVSITE] = state or GovsiteState()
    for path, handler in ROUTES:
        app.router.add_get(path, handler)
        app.router.add_get("/gated" + path, gated(handler))
    app.router.add_get("/gated/zhengce/content/{month}/content_{id:\\d+}.htm", gated(article))
    app.router.add_post("/_sandbox/gate", gate_control)

