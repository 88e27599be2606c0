"""A webhook receiver like a careful client-app backend: verifies the signature, drops repeats
by Idempotency-Key, answers lookups by key, and records everything it got.

It checks signatures with its own code, written from the published contract (docs/platforms.md,
"Website CMS and webhook"): ``X-Syndicator-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` (GitHub's
``X-Hub-Signature-256`` form), compared in constant time. Sharing the sender's function would let a
bug in it pass its own check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from aiohttp import web

from sandbox.common import FAULTS, RECORDER, Faults, add_sandbox_routes

SIGNATURE_HEADER = "X-Syndicator-Signature"
KEY_HEADER = "Idempotency-Key"
STORED = web.AppKey("webhook_stored", dict)
SECRET = web.AppKey("webhook_secret", str)


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """``sha256=<hex>`` over the exact bytes received; no header, another scheme or another digest fails."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    injector = request.app[FAULTS]
    if injector.in_outage():
        return web.Response(status=503, text="outage")
    if not signature_valid(request.app[SECRET], body, request.headers.get(SIGNATURE_HEADER)):
        request.app[RECORDER].record(request, None, outcome="bad-signature")
        return web.json_response({"error": "bad signature"}, status=401)
    code = injector.next_code()
    if code is not None:
        request.app[RECORDER].record(request, None, outcome=f"injected-{code}")
        return web.json_response({"error": "injected"}, status=code)
    try:
        payload: dict[str, Any] = json.loads(body)
    except ValueError:
        return web.json_response({"error": "body is not JSON"}, status=400)
    key = request.headers.get(KEY_HEADER) or payload.get("key")
    if not key:
        return web.json_response({"error": "Idempotency-Key missing"}, status=400)
    stored = request.app[STORED]
    unit = request.match_info["unit"]
    if key in stored:
        stored[key]["repeats"] += 1
        request.app[RECORDER].record(request, payload, outcome="repeat", unit=unit)
        return web.json_response({"id": stored[key]["id"], "url": stored[key]["url"], "duplicate": True})
    record_id = f"wh-{len(stored) + 1}"
    url = f"https://app.example.gov.cn/{unit}/news/{record_id}"
    stored[key] = {"id": record_id, "url": url, "repeats": 0, "unit": unit}
    request.app[RECORDER].record(request, payload, outcome="stored", unit=unit)
    # Latency after storing: the hard case for a sender (processed, but the answer comes late).
    await injector.delay()
    return web.json_response({"id": record_id, "url": url}, status=201)


async def lookup(request: web.Request) -> web.Response:
    found = request.app[STORED].get(request.query.get("key", ""))
    if found is None:
        return web.json_response({"error": "not found"}, status=404)
    return web.json_response({"id": found["id"], "url": found["url"]})


async def summary(request: web.Request) -> web.Response:
    stored = request.app[STORED]
    return web.json_response({"stored": len(stored), "repeats": sum(v["repeats"] for v in stored.values())})


def build_app(secret: str, faults: Faults | None = None) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[SECRET] = secret
    app[STORED] = {}
    add_sandbox_routes(app, faults)
    app.router.add_post("/hooks/{unit}", receive)
    app.router.add_get("/hooks/lookup", lookup)
    app.router.add_get("/_sandbox/summary", summary)
    return app
