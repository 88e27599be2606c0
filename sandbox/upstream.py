"""A local look-alike of the upstream sites: State Council-like RSS (UTF-8), a provincial feed
in GBK, an Atom feed and article pages, with conditional GET, and publishing on request.

Article URLs follow gov.cn's pattern ``/zhengce/content/YYYYMM/content_ID.htm``. Feeds honour
If-None-Match / If-Modified-Since with 304 as real servers do (RFC 9110 §13.1).

``UpstreamState.html_charset`` sets the encoding of the gov.cn-like HTML and JSON pages (articles
here, lists in ``sandbox.govsite``): "utf-8" as on gov.cn today, or "gbk" as on older column pages,
declared both in the Content-Type header and in ``<meta charset>``.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from html import escape
from typing import Any

from aiohttp import web

from core.clock import SHANGHAI
from sandbox.common import FAULTS, Faults, add_sandbox_routes

FEEDS = {
    # feed name -> (title, authority, encoding)
    "gwy": ("国务院信息", "国务院办公厅", "utf-8"),
    "province": ("湖北省人民政府文件", "湖北省人民政府办公厅", "gbk"),
}


@dataclass(slots=True)
class Doc:
    id: int
    title: str
    body_html: str
    published_at: datetime
    feeds: set[str]
    category: str = "国务院文件"

    @property
    def path(self) -> str:
        return f"/zhengce/content/{self.published_at.astimezone(SHANGHAI):%Y%m}/content_{self.id}.htm"


@dataclass
class UpstreamState:
    docs: list[Doc] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(7_000_001))
    changed_at: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    html_charset: str = "utf-8"               # gov.cn-like pages: "utf-8" or "gbk"

    def publish(self, title: str, body_html: str = "", *, feeds: set[str] | None = None,
                published_at: datetime | None = None, category: str = "国务院文件") -> Doc:
        now = published_at or datetime.now(UTC).replace(microsecond=0)
        doc = Doc(next(self._ids), title, body_html or default_body(title), now, feeds or {"gwy"}, category)
        self.docs.append(doc)
        self.changed_at = max(self.changed_at, datetime.now(UTC).replace(microsecond=0))
        return doc

    def edit(self, doc_id: int, title: str) -> Doc:
        doc = next(d for d in self.docs if d.id == doc_id)
        doc.title = title
        self.changed_at = datetime.now(UTC).replace(microsecond=0)
        return doc

    def feed_docs(self, feed: str, limit: int = 30) -> list[Doc]:
        docs = [d for d in self.docs if feed in d.feeds]
        return sorted(docs, key=lambda d: d.published_at, reverse=True)[:limit]


def default_body(title: str) -> str:
    return (
        f"<p>　　{escape(title)}已经国务院同意，现予印发，请认真贯彻执行。</p>"
        "<p>　　各省、自治区、直辖市人民政府，国务院各部委、各直属机构要结合实际抓好落实。</p>"
        '<p><img src="/images/seal.png" alt="印章"/></p>'
    )


UPSTREAM = web.AppKey("upstream_state", UpstreamState)


def base_url_of(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def render_rss(state: UpstreamState, feed: str, base: str) -> str:
    title, authority, encoding = FEEDS[feed]
    items = []
    for doc in state.feed_docs(feed):
        link = base + doc.path
        items.append(
            "<item>"
            f"<title>{escape(doc.title)}</title><link>{escape(link)}</link>"
            f'<guid isPermaLink="false">content_{doc.id}</guid>'
            f"<category>{escape(doc.category)}</category>"
            f"<pubDate>{format_datetime(doc.published_at.astimezone(SHANGHAI))}</pubDate>"
            f"<description>{escape(doc.body_html)}</description>"
            "</item>"
        )
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<rss version="2.0"><channel><title>{escape(title)}</title><link>{escape(base)}/</link>'
        f"<description>{escape(authority)}</description>{''.join(items)}</channel></rss>"
    )


def render_atom(state: UpstreamState, feed: str, base: str) -> str:
    title, authority, _ = FEEDS[feed]
    entries = []
    for doc in state.feed_docs(feed):
        link = base + doc.path
        entries.append(
            f"<entry><title>{escape(doc.title)}</title><link href=\"{escape(link)}\"/>"
            f"<id>tag:sandbox.gov.cn,2026:content_{doc.id}</id>"
            f"<updated>{doc.published_at.isoformat()}</updated>"
            f'<content type="html">{escape(doc.body_html)}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>tag:sandbox.gov.cn,2026:{feed}</id>"
        f"<updated>{state.changed_at.isoformat()}</updated><author><name>{escape(authority)}</name></author>"
        f"{''.join(entries)}</feed>"
    )


def conditional(request: web.Request, state: UpstreamState, text: str, encoding: str,
                content_type: str) -> web.Response:
    """Answer 304 when the client's validators still match, else the body with validators."""
    body = text.encode(encoding)
    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
    last_modified = format_datetime(state.changed_at, usegmt=True)
    headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": "max-age=0"}
    inm = request.headers.get("If-None-Match")
    ims = request.headers.get("If-Modified-Since")
    if inm is not None:
        if etag in [t.strip() for t in inm.split(",")]:
            return web.Response(status=304, headers=headers)
    elif ims:
        try:
            if state.changed_at <= parsedate_to_datetime(ims):
                return web.Response(status=304, headers=headers)
        except (TypeError, ValueError):
            pass
    return web.Response(body=body, headers={**headers, "Content-Type": f"{content_type}; charset={encoding}"})


def encoded(text: str, charset: str, content_type: str, *, in_header: bool = True) -> web.Response:
    """``text`` as ``charset`` bytes, the charset named in the Content-Type header or (``in_header``
    false, as on TRS portals) only inside the document. GBK pages escape what GBK lacks as
    character references, as CMSs do; JSON cannot, so it is written as gb18030 (GBK's superset)."""
    if charset.lower() in ("utf-8", "utf8"):
        body = text.encode("utf-8")
    elif content_type.endswith("json"):
        body = text.encode("gb18030")
    else:
        body = text.encode(charset, errors="xmlcharrefreplace")
    return web.Response(body=body, content_type=content_type, charset=charset if in_header else None)


async def fault_gate(request: web.Request) -> web.Response | None:
    injector = request.app[FAULTS]
    await injector.delay()
    if injector.in_outage():
        return web.Response(status=503, text="Service Unavailable")
    code = injector.next_code()
    if code is not None:
        return web.Response(status=code if 400 <= code < 600 else 500, text="error")
    return None


def feed_view(render: Any, content_type: str, encoding_of: Any) -> Any:
    """A feed endpoint: fault gate, then the rendered feed under conditional GET."""

    async def view(request: web.Request) -> web.StreamResponse:
        feed = request.match_info["feed"]
        if feed not in FEEDS:
            raise web.HTTPNotFound()
        if (failed := await fault_gate(request)) is not None:
            return failed
        state = request.app[UPSTREAM]
        return conditional(request, state, render(state, feed, base_url_of(request)), encoding_of(feed), content_type)

    return view


# gov.cn's top bar, as the fallback extractor returned it when the article was missed (issue #12).
GOV_NAV = ('<div class="header_top"><a href="/">首页</a> | <a href="#">简</a> | <a href="#">繁</a> | '
           '<a href="#">EN</a> | <a href="#">登录</a> | <a href="#">个人中心</a> | <a href="#">无障碍</a></div>')


def gov_article_html(doc: Doc, charset: str) -> str:
    """A gov.cn article page: metas firstpublishedtime (YYYY-MM-DD-HH:mm:ss) and manuscriptId, title in
    ``div.share-title``, body in ``div.TRS_UEDITOR`` inside ``#UCAP-CONTENT`` (RSSHub
    lib/routes/gov/zhengce/index.ts). Odd ids carry a stray ``</html>`` after the header, before the
    article, as some real pages do: a parser that searches only the first root misses the article."""
    published = doc.published_at.astimezone(SHANGHAI)
    stray = "</body></html>\n" if doc.id % 2 else ""
    return (
        f'<!DOCTYPE html><html><head><meta charset="{charset}">'
        f'<meta name="firstpublishedtime" content="{published:%Y-%m-%d-%H:%M:%S}">'
        f'<meta name="manuscriptId" content="{doc.id}"><meta name="lanmu" content="{escape(doc.category)}">'
        f"<title>{escape(doc.title)}_{escape(doc.category)}_中国政府网</title></head><body>"
        f'{GOV_NAV}<div class="BreadcrumbNav"><a href="/">首页</a> &gt; <a href="/zhengce/">政策</a></div>\n'
        f"{stray}"
        f'<div class="share-title">{escape(doc.title)}</div>'
        f'<div id="UCAP-CONTENT"><div class="TRS_UEDITOR">{doc.body_html}</div></div>'
        '<div class="footer">主办单位：国务院办公厅</div></body></html>'
    )


async def article(request: web.Request) -> web.Response:
    doc_id = int(request.match_info["id"])
    doc = next((d for d in request.app[UPSTREAM].docs if d.id == doc_id), None)
    if doc is None:
        raise web.HTTPNotFound()
    charset = request.app[UPSTREAM].html_charset
    return encoded(gov_article_html(doc, charset), charset, "text/html")


async def image(request: web.Request) -> web.Response:
    # A 1x1 PNG: enough for channels that re-host body images.
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
    return web.Response(body=png, content_type="image/png")


async def publish(request: web.Request) -> web.Response:
    data: dict[str, Any] = await request.json() if request.can_read_body else {}
    state = request.app[UPSTREAM]
    published_at = datetime.fromisoformat(data["published_at"]) if data.get("published_at") else None
    doc = state.publish(
        data.get("title") or f"国务院办公厅关于印发示范文件的通知（第{len(state.docs) + 1}号）",
        data.get("body", ""),
        feeds=set(data.get("feeds") or ["gwy"]),
        published_at=published_at,
    )
    return web.json_response({"id": doc.id, "url": base_url_of(request) + doc.path, "title": doc.title})


async def edit(request: web.Request) -> web.Response:
    data = await request.json()
    doc = request.app[UPSTREAM].edit(int(data["id"]), data["title"])
    return web.json_response({"id": doc.id, "title": doc.title})


def build_app(state: UpstreamState | None = None, faults: Faults | None = None) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = state or UpstreamState()
    add_sandbox_routes(app, faults)
    app.router.add_get("/rss/{feed}.xml", feed_view(render_rss, "application/rss+xml", lambda f: FEEDS[f][2]))
    app.router.add_get("/atom/{feed}.xml", feed_view(render_atom, "application/atom+xml", lambda f: "utf-8"))
    app.router.add_get("/zhengce/content/{month}/content_{id:\\d+}.htm", article)
    app.router.add_get("/images/{name}", image)
    app.router.add_post("/_sandbox/publish", publish)
    app.router.add_post("/_sandbox/edit", edit)
    return app
