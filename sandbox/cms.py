"""A local look-alike of a unit website's CMS REST adapter (the contract in channels/website/cms.py).

Checks the HMAC signature and timestamp (401), validates the body (400/422), is idempotent on the key
(201 first, 200 with the same {id, url} after) and answers lookups by key. An injected fault code is an HTTP
status (429 comes with ``Retry-After: 1``).
"""

from __future__ import annotations

import hashlib
import hmac
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
    if state.columns is not None and body["column"] not in state.columns:
        return fail(422, f"unknown column {body['column']}")
    if "<script" in str(body["content_html"]).lower():
        return fail(422, "content_html contains script")
    existing = state.articles.get(body["key"])
    if existing is not None:
        return web.json_response({"id": existing["id"], "url": existing["url"]}, status=200)
    article_id = str(next(state.ids))
    url = f"{state.public_url}/{body['column']}/{article_id}.html"
    state.articles[body["key"]] = {"id": article_id, "url": url, "body": body}
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


def build_app(faults: Faults | None = None, *, secret: str = DEFAULT_SECRET,
              public_url: str = "https://www.example.gov.cn", columns: set[str] | list[str] | None = None,
              max_skew_s: int = 300) -> web.Application:
    """The CMS look-alike; ``secret`` is the shared signing secret, ``columns`` the accepted column codes."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    add_sandbox_routes(app, faults)
    app[STATE] = CmsState(secret, public_url.rstrip("/"), set(columns) if columns is not None else None, max_skew_s)
    app.router.add_post(REPRINTS, create)
    app.router.add_get(REPRINTS, find)
    app.router.add_get("/_sandbox/articles", articles)
    return app
