"""A local look-alike of a unit website's CMS REST adapter (the contract in channels/website/cms.py).

Checks the HMAC signature and timestamp (401), validates the body (400/422), is idempotent on the key
(201 first, 200 with the same {id, url} after) and answers lookups by key. An injected fault code is an HTTP
status (429 comes with ``Retry-After: 1``).

With ``serve_pages`` it is also the unit's public site: ``GET /site/<column>/`` (the column page, newest first) and
``GET /site/<column>/<id>.html`` (the article), and the URLs it returns point there. With ``review`` an article
is accepted into the CMS's own review queue and is public only after ``POST /_sandbox/cms/approve {"key": …}``
(or ``{"all": true}``) — the "accepted but not visible" case live verification exists for.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.common import FAULTS, RECORDER, Faults, add_sandbox_routes

REPRINTS = "/api/reprints"
DEFAULT_SECRET = "sandbox-cms-secret"
REQUIRED = ("key", "title", "content_html", "source_url", "credit", "column", "sent_at")
MESSAGES = {400: "bad request", 401: "invalid signature", 403: "forbidden", 409: "conflict",
            422: "unprocessable entity", 429: "too many requests", 500: "internal error",
            502: "bad gateway", 503: "service unavailable"}


@dataclass
class CmsState:
    secret: str
    public_url: str
    columns: set[str] | None
    max_skew_s: int
    articles: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(100_001))
    serve_pages: bool = False
    review: bool = False
    public: set[str] = field(default_factory=set)          # keys of articles visible on the public site


STATE = web.AppKey("cms_state", CmsState)


def fail(status: int, message: str = "") -> web.Response:
    headers = {"Retry-After": "1"} if status == 429 else None
    return web.json_response({"error": message or MESSAGES.get(status, "error")}, status=status, headers=headers)


def _signed_ok(request: web.Request, state: CmsState, payload: bytes) -> str | None:
    """None when the signature and timestamp are good, else why not."""
    try:
        stamp = int(request.headers.get("X-Timestamp", ""))
    except ValueError:
        return "missing or malformed X-Timestamp"
    if abs(time.time() - stamp) > state.max_skew_s:
        return "stale X-Timestamp"
    expected = "sha256=" + hmac.new(state.secret.encode(), payload, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Signature", "")):
        return "invalid signature"
    return None


async def _prelude(request: web.Request, body: Any) -> tuple[dict[str, Any], web.Response | None]:
    injector = request.app[FAULTS]
    entry = request.app[RECORDER].record(request, body)
    if injector.in_outage():
        return entry, fail(503)
    await injector.delay()
    code = injector.next_code()
    return entry, (fail(code) if code is not None else None)


async def create(request: web.Request) -> web.Response:
    state = request.app[STATE]
    raw = await request.read()
    try:
        body: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    entry, early = await _prelude(request, body if body is not None else raw.decode("utf-8", "replace"))
    response = early or _create(request, state, raw, body)
    entry["response_status"] = response.status
    if response.status in (200, 201) and await request.app[FAULTS].reply_lost(request):
        entry["reply_lost"] = True
    return response


def _create(request: web.Request, state: CmsState, raw: bytes, body: Any) -> web.Response:
    if (why := _signed_ok(request, state, raw)) is not None:
        return fail(401, why)
    if not isinstance(body, dict):
        return fail(400, "body must be a JSON object")
    missing = [name for name in REQUIRED if body.get(name) in (None, "")]
    if missing:
        return fail(422, f"missing fields: {', '.join(missing)}")
    if str(body["sent_at"]) != request.headers.get("X-Timestamp"):
        return fail(401, "sent_at does not match X-Timestamp")
    if body["key"] != request.headers.get("X-Idempotency-Key"):
        return fail(400, "key does not match X-Idempotency-Key")
    if not str(body["source_url"]).startswith(("https://", "http://")):
        # The reprint's 来源 link readers click: an absolute URL, never our scheme-less identity key.
        return fail(422, "source_url must be an absolute http(s) URL")
    if state.columns is not None and body["column"] not in state.columns:
        return fail(422, f"unknown column {body['column']}")
    if "<script" in str(body["content_html"]).lower():
        return fail(422, "content_html contains script")
    existing = state.articles.get(body["key"])
    if existing is not None:
        return web.json_response({"id": existing["id"], "url": existing["url"]}, status=200)
    article_id = str(next(state.ids))
    root = f"{request.url.origin()}/site" if state.serve_pages else state.public_url
    url = f"{root}/{body['column']}/{article_id}.html"
    state.articles[body["key"]] = {"id": article_id, "url": url, "body": body}
    if not state.review:
        state.public.add(body["key"])
    return web.json_response({"id": article_id, "url": url}, status=201)


async def find(request: web.Request) -> web.Response:
    state = request.app[STATE]
    entry, early = await _prelude(request, None)
    query = request.raw_path.partition("?")[2]
    if early is not None:
        response = early
    elif (why := _signed_ok(request, state, query.encode())) is not None:
        response = fail(401, why)
    elif (article := state.articles.get(request.query.get("key", ""))) is None:
        response = fail(404, "not found")
    else:
        response = web.json_response({"id": article["id"], "url": article["url"]})
    entry["response_status"] = response.status
    return response


async def articles(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATE].articles.values()))


def _public(state: CmsState, column: str) -> list[dict[str, Any]]:
    return [a for k, a in state.articles.items() if k in state.public and a["body"]["column"] == column]


async def column_page(request: web.Request) -> web.Response:
    column = request.match_info["column"]
    items = "".join(f'<li><a href="{a["id"]}.html">{html.escape(a["body"]["title"])}</a></li>'
                    for a in reversed(_public(request.app[STATE], column)))
    return web.Response(text=f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(column)}</title>"
                             f"</head><body><ul>{items}</ul></body></html>", content_type="text/html")


async def article_page(request: web.Request) -> web.Response:
    column, article_id = request.match_info["column"], request.match_info["id"]
    found = next((a for a in _public(request.app[STATE], column) if a["id"] == article_id), None)
    if found is None:
        raise web.HTTPNotFound()
    title = html.escape(found["body"]["title"])
    return web.Response(text=f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                             f"<body><h1>{title}</h1>{found['body']['content_html']}</body></html>",
                        content_type="text/html")


async def approve(request: web.Request) -> web.Response:
    body = await request.json()
    state = request.app[STATE]
    keys = list(state.articles) if body.get("all") else [str(body.get("key", ""))]
    state.public.update(k for k in keys if k in state.articles)
    return web.json_response({"public": len(state.public)})


async def take_down(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[STATE].public.discard(str(body.get("key", "")))
    return web.json_response({"public": len(request.app[STATE].public)})


def build_app(faults: Faults | None = None, *, secret: str = DEFAULT_SECRET,
              public_url: str = "https://www.example.gov.cn", columns: set[str] | list[str] | None = None,
              max_skew_s: int = 300, serve_pages: bool = False, review: bool = False) -> web.Application:
    """The CMS look-alike; ``secret`` is the shared signing secret, ``columns`` the accepted column codes;
    ``serve_pages``: also the public site; ``review``: articles are public only once approved."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    add_sandbox_routes(app, faults)
    app[STATE] = CmsState(secret, public_url.rstrip("/"), set(columns) if columns is not None else None, max_skew_s,
                          serve_pages=serve_pages, review=review)
    app.router.add_post(REPRINTS, create)
    app.router.add_get(REPRINTS, find)
    app.router.add_get("/_sandbox/articles", articles)
    app.router.add_post("/_sandbox/cms/approve", approve)
    app.router.add_post("/_sandbox/cms/take-down", take_down)
    if serve_pages:
        app.router.add_get("/site/{column}/", column_page)
        app.router.add_get("/site/{column}/{id}.html", article_page)
    return app
