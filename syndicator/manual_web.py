"""Pages for manual units' 信息员 on the hub: the copy-ready reprint and the "已转载，填写链接" form.

No login: each page needs a signed, expiring token from the notice (channels.manual.links) in its URL, and shows
only the one item it was made for. Pages carry no inline script or style (CSP ``script-src 'self'``); the copy
button is /manual/static/copy.js. Nothing secret is on them: the item is public upstream content.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from aiohttp import web

from channels.manual.channel import deadline_text
from channels.manual.links import check_token, link_secret
from core.content import sanitize, source_line
from syndicator.web_keys import CLOCK, MANUAL, SETTINGS, STORE

STATIC = Path(__file__).parent / "manual_static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _page(title: str, body: str, status: int = 200, *, script: bool = False) -> web.Response:
    js = '<script src="/manual/static/copy.js"></script>' if script else ""
    text = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer">'
            f'<title>{html.escape(title)}</title><link rel="stylesheet" href="/manual/static/manual.css">{js}'
            f'</head><body>{body}</body></html>')
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers={
        "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer"})


async def _resolve(request: web.Request, purpose: str) -> tuple[Any, web.Response | None]:
    app = request.app
    secret = await link_secret(app[STORE].kv, app[SETTINGS].hub.instance_id)
    check = check_token(secret, request.match_info["token"], purpose, app[CLOCK].now())
    if check.problem is not None or check.delivery_id is None:
        return None, _page("链接无效", f'<h1>无法打开</h1><p class="bad">{html.escape(check.problem or "")}</p>', 403)
    found = await app[MANUAL].delivery(check.delivery_id)
    if found is None:
        return None, _page("未找到",
                           '<h1>未找到该稿件</h1><p class="bad">该投递已不存在或不属于人工转载单位</p>', 404)
    return found, None


async def copy_page(request: web.Request) -> web.Response:
    found, refused = await _resolve(request, "copy")
    if refused is not None:
        return refused
    d, item, channel = found
    body_html = sanitize(item.content, item.url)
    shown = set(body_html.split('src="')[1:]) if 'src="' in body_html else set()
    extra_images = "".join(f'<p><img src="{html.escape(u)}" alt=""></p>' for u in item.images
                           if not any(s.startswith(u) for s in shown))
    parts = [
        f"<h1>{html.escape(item.title)}</h1>",
        f'<p class="meta">{html.escape(source_line(item))}<br>原文：<a href="{html.escape(item.url)}" '
        f'rel="noreferrer">{html.escape(item.url)}</a><br>截止时间：{html.escape(deadline_text(d.deadline_at))}'
        f"（北京时间） · 发布栏目：{html.escape(channel.options.column_url)}</p>",
        '<p><button type="button" data-copy="reprint-title">复制标题</button> '
        '<button type="button" data-copy="reprint-body">复制正文（含图片）</button></p>',
        f'<div id="reprint-title" class="body">{html.escape(item.title)}</div>',
        f'<div id="reprint-body" class="body">{body_html}{extra_images}'
        f"<p>{html.escape(source_line(item))}</p></div>",
    ]
    return _page(item.title, "".join(parts), script=True)


def _form(item: Any, message: str = "", ok: bool | None = None, value: str = "") -> str:
    note = "" if not message else f'<p class="{"ok" if ok else "bad"}">{html.escape(message)}</p>'
    return (f"<h1>已转载，填写链接</h1><p>稿件：{html.escape(item.title)}</p>{note}"
            '<form method="post"><p><label for="url">本单位网站上的转载页面链接：</label></p>'
            f'<p><input type="url" id="url" name="url" required maxlength="2000" value="{html.escape(value)}"></p>'
            '<p><input type="submit" value="提交并核对"></p></form>'
            "<p class=\"meta\">提交后系统会打开该页面核对标题，一致即记为已转载。</p>")


async def done_form(request: web.Request) -> web.Response:
    found, refused = await _resolve(request, "done")
    if refused is not None:
        return refused
    d, item, _channel = found
    if d.state.value == "delivered":
        return _page("已转载", _form(item, f"已确认转载：{d.external_url or ''}", True))
    return _page("已转载，填写链接", _form(item))


async def done_submit(request: web.Request) -> web.Response:
    found, refused = await _resolve(request, "done")
    if refused is not None:
        return refused
    d, item, _channel = found
    form = await request.post()
    url = str(form.get("url") or "")[:2000]
    assert d.id is not None
    answer = await request.app[MANUAL].report(d.id, url, "信息员（网页表单）")
    return _page("核对结果", _form(item, answer.message, answer.ok, "" if answer.ok else url),
                 200 if answer.ok else 422)


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ("copy.js", "manual.css"):
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"X-Content-Type-Options": "nosniff",
                                                    "Cache-Control": "public, max-age=3600"})


def add_manual_routes(app: web.Application) -> None:
    """The 信息员's pages; they read ``STORE``, ``SETTINGS``, ``CLOCK`` and ``MANUAL`` (syndicator.web_keys)."""
    app.router.add_get("/manual/copy/{token}", copy_page)
    app.router.add_get("/manual/done/{token}", done_form)
    app.router.add_post("/manual/done/{token}", done_submit)
    app.router.add_get("/manual/static/{name}", static_file)
