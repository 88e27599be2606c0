"""Look-alikes of the WeCom and DingTalk group-robot webhooks, as strict as the documented services.

Rules enforced (sources in channels/notify/robots.py; the checks here are written independently of the
sender's code, so a signing or encoding mistake there is caught here):
- WeCom ``POST /cgi-bin/webhook/send?key=K``: an unknown key is 93000; the body must be UTF-8 JSON with a
  known ``msgtype``; markdown content over 4096 bytes is 40058 (global code "参数超出长度"); more than 20
  messages in 60 s for one robot is 45009.
- DingTalk ``POST /robot/send?access_token=T[&timestamp&sign]``: an unknown token is 300001; a robot with
  加签 refuses a missing or wrong sign, or a timestamp more than an hour off, with 310000; more than 20
  messages a minute throttles the robot for 10 minutes (130101).
Every accepted message is recorded (``/_sandbox/received``); ``/_sandbox/faults`` scripts error codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict, deque
from typing import Any

from aiohttp import web

from sandbox.common import FAULTS, RECORDER, Faults, add_sandbox_routes

WECOM_KEYS = web.AppKey("wecom_keys", set)
DINGTALK_ROBOTS = web.AppKey("dingtalk_robots", dict)      # access_token -> secret ("" = no signing)
SENT = web.AppKey("robot_sent", defaultdict)
THROTTLED = web.AppKey("robot_throttled", dict)
PER_MINUTE = 20


def _reply(code: int, msg: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": msg})


def _too_fast(app: web.Application, robot: str) -> bool:
    now = time.monotonic()
    window: deque[float] = app[SENT][robot]
    while window and now - window[0] >= 60:
        window.popleft()
    if len(window) >= PER_MINUTE:
        return True
    window.append(now)
    return False


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


async def wecom_send(request: web.Request) -> web.Response:
    app = request.app
    key = request.query.get("key", "")
    if key not in app[WECOM_KEYS]:
        return _reply(93000, "invalid webhook url")
    code = app[FAULTS].next_code()
    if code is not None:
        return _reply(code, "injected")
    body = await _json_body(request)
    if body is None or body.get("msgtype") not in ("text", "markdown", "markdown_v2", "news", "image", "file"):
        return _reply(40008, "invalid message type")
    if body["msgtype"] == "markdown":
        content = str((body.get("markdown") or {}).get("content", ""))
        if not content or len(content.encode()) > 4096:
            return _reply(40058, "markdown.content exceed max length 4096")
    if _too_fast(app, f"wecom:{key}"):
        return _reply(45009, "api freq out of limit")
    app[RECORDER].record(request, body, robot="wecom")
    return _reply(0, "ok")


def _sign(secret: str, timestamp: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), (timestamp + "\n" + secret).encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


async def dingtalk_send(request: web.Request) -> web.Response:
    app = request.app
    token = request.query.get("access_token", "")
    if token not in app[DINGTALK_ROBOTS]:
        return _reply(300001, "token is not exist")
    secret = app[DINGTALK_ROBOTS][token]
    if secret:
        ts, sign = request.query.get("timestamp", ""), request.query.get("sign", "")   # aiohttp url-decodes
        fresh = ts.isdigit() and abs(int(ts) - time.time() * 1000) <= 3600 * 1000
        if not (fresh and hmac.compare_digest(sign, _sign(secret, ts))):
            return _reply(310000, "sign not match")
    code = app[FAULTS].next_code()
    if code is not None:
        return _reply(code, "injected")
    if app[THROTTLED].get(token, 0) > time.monotonic():
        return _reply(130101, "send too fast, exceed 20 times per minute")
    body = await _json_body(request)
    if body is None or body.get("msgtype") not in ("text", "markdown", "link", "actionCard", "feedCard"):
        return _reply(40035, "缺少参数 json")
    if _too_fast(app, f"dingtalk:{token}"):
        app[THROTTLED][token] = time.monotonic() + 600
        return _reply(130101, "send too fast, exceed 20 times per minute")
    app[RECORDER].record(request, body, robot="dingtalk")
    return _reply(0, "ok")


def build_robot_app(*, wecom_keys: set[str], dingtalk: dict[str, str], faults: Faults | None = None
                    ) -> web.Application:
    """One app serving both robots' paths (they are separate hosts in reality; the paths do not overlap)."""
    app = web.Application()
    add_sandbox_routes(app, faults)
    app[WECOM_KEYS] = set(wecom_keys)
    app[DINGTALK_ROBOTS] = dict(dingtalk)
    app[SENT] = defaultdict(deque)
    app[THROTTLED] = {}
    app.router.add_post("/cgi-bin/webhook/send", wecom_send)
    app.router.add_post("/robot/send", dingtalk_send)
    return app
