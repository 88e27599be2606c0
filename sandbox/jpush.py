"""A local look-alike of JPush Push API v3: ``POST /v3/push`` with Basic auth, validation and rate limiting.

Same path, auth, body checks and error bodies ``{"error": {"code": N, "message": ...}}`` as
https://docs.jiguang.cn/jpush/server/push/rest_api_v3_push (HTTP status per its "调用返回" table); a request over
the per-window quota gets HTTP 429 code 2002 with X-Rate-Limit-Quota / -Limit / -Remaining / -Reset headers.

``POST /v3/push/validate`` ("只用于验证推送调用是否能够成功，与推送 API 的区别在于：不向用户发送任何消息") runs the
same checks and answers the same way, but nothing is pushed.

Vendor classification (JPush 厂商消息分类使用指南, https://docs.jiguang.cn/jpush/client/Android/android_channel_id):
JPush answers 200 to an Android push whatever its ``options.third_party_channel`` says, but Xiaomi delivers nothing
without a 公信/私信 ``channel_id`` ("已经没有默认消息分类了") and Huawei, Honor, OPPO and vivo demote or cap
unclassified news. The look-alike answers 200 too and flags such a push: ``unclassified_vendors`` on its recorder
entry and in ``state.unclassified`` (its own list of what classifies a vendor's message, not the channel's). Values
outside the vendors' enumerations (Huawei/Honor importance, vivo classification) are refused with 1003: stricter.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.common import FAULTS, RECORDER, Faults, add_sandbox_routes

PUSH = "/v3/push"
VALIDATE = "/v3/push/validate"
DEFAULT_APPS = {"sandbox-app-key": "sandbox-master-secret"}
ERRORS: dict[int, tuple[int, str]] = {
    1000: (500, "Server Internal error."),
    1001: (405, "Only support HTTP Post method."),
    1002: (400, "Missing parameter."),
    1003: (400, "Parameter value is invalid."),
    1004: (401, "Basic authentication failed."),
    1005: (400, "Message is too long."),
    1008: (400, "app_key is invalid."),
    1009: (400, "Unsupported key in push object."),
    1011: (400, "cannot find user by this audience"),
    1020: (404, "Only HTTPS request is supported."),
    1030: (503, "Internal service timeout."),
    2002: (429, "Request times of the app_key exceed the limit of current time window."),
    2003: (403, "The app_key is restricted from calling the API."),
    2004: (403, "No permission to perform this operation."),
    2005: (403, "Message volume exceeds the reasonable range."),
}
_TAG = re.compile(r"^[A-Za-z0-9_\u4e00-\u9fff@!#$&*+=.|￥]+$")
_PLATFORMS = {"android", "ios", "winphone"}
# vendor -> (the field that classifies its message, the values allowed for it or None for any non-empty value)
_CLASSIFIED_BY: dict[str, tuple[str, frozenset[Any] | None]] = {
    "xiaomi": ("channel_id", None), "huawei": ("category", None),
    "honor": ("importance", frozenset({"LOW", "NORMAL"})), "oppo": ("category", None),
    "vivo": ("classification", frozenset({0, 1})),
}
_HUAWEI_IMPORTANCE = frozenset({"LOW", "NORMAL", "HIGH"})


@dataclass
class JPushState:
    apps: dict[str, str]
    tags: dict[str, int] | None
    quota: int
    window_s: int
    windows: dict[str, tuple[float, int]] = field(default_factory=lambda: defaultdict(lambda: (0.0, 0)))
    pushes: list[dict[str, Any]] = field(default_factory=list)
    unclassified: list[dict[str, Any]] = field(default_factory=list)   # {"msg_id", "vendors"}
    ids: itertools.count = field(default_factory=lambda: itertools.count(54_043_195_528_445_001))


STATE = web.AppKey("jpush_state", JPushState)


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def error(code: int, message: str = "", headers: dict[str, str] | None = None) -> web.Response:
    status, text = ERRORS.get(code, (400, "error"))
    return web.json_response({"error": {"code": code, "message": message or text}}, status=status,
                             headers=headers)


def _app_key(request: web.Request, state: JPushState) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        app_key, _, secret = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return app_key if state.apps.get(app_key) == secret and secret else None


def _rate(state: JPushState, app_key: str) -> tuple[bool, dict[str, str]]:
    start, used = state.windows[app_key]
    now = time.monotonic()
    if now - start >= state.window_s:
        start, used = now, 0
    allowed = used < state.quota
    used += 1 if allowed else 0
    state.windows[app_key] = (start, used)
    reset = max(1, int(state.window_s - (now - start)))
    return allowed, {"X-Rate-Limit-Quota": str(state.quota), "X-Rate-Limit-Limit": str(state.quota),
                     "X-Rate-Limit-Remaining": str(max(0, state.quota - used)), "X-Rate-Limit-Reset": str(reset)}


def _validate(state: JPushState, body: Any) -> tuple[int, str] | None:
    if not isinstance(body, dict):
        return 1003, "Invalid json."
    if "platform" not in body or "audience" not in body or not ({"notification", "message"} & body.keys()):
        return 1002, "platform, audience and notification or message are required."
    platform = body["platform"]
    if platform != "all" and not (isinstance(platform, list) and platform and set(platform) <= _PLATFORMS):
        return 1003, "platform is invalid."
    audience = body["audience"]
    if audience != "all":
        if not isinstance(audience, dict) or not audience:
            return 1003, "audience is invalid."
        for kind, values in audience.items():
            if kind not in ("tag", "tag_and", "alias", "registration_id") or not isinstance(values, list):
                return 1003, f"audience.{kind} is invalid."
            if not values or any(not v for v in values):
                return 1003, "Empty tag/alias/registration_id is not allowed!"
            if kind in ("tag", "tag_and") and (len(values) > 20 or any(
                    not _TAG.match(str(v)) or len(str(v).encode()) > 40 for v in values)):
                return 1003, f"audience.{kind} is invalid."
    options = body.get("options") or {}
    ttl = options.get("time_to_live", 86_400) if isinstance(options, dict) else None
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not 0 <= ttl <= 864_000:
        return 1003, "options.time_to_live is invalid."
    notification = body.get("notification") or {}
    if "ios" in notification and len(b'"ios":') + _size(notification["ios"]) > 2000:
        return 1005, "iOS notification is too long."
    android = {k: v for k, v in notification.items() if k != "ios"}
    if "android" in notification and _size(android) + _size(body.get("message") or {}) > 4000:
        return 1005, "Android notification is too long."
    vendors = options.get("third_party_channel") or {}
    if not isinstance(vendors, dict) or any(not isinstance(v, dict) for v in vendors.values()):
        return 1003, "options.third_party_channel is invalid."
    huawei = vendors.get("huawei", {}).get("importance")
    if huawei is not None and huawei not in _HUAWEI_IMPORTANCE:
        return 1003, "options.third_party_channel.huawei.importance is invalid."
    for vendor, (key, allowed) in _CLASSIFIED_BY.items():
        value = vendors.get(vendor, {}).get(key)
        if value is not None and allowed is not None and value not in allowed:
            return 1003, f"options.third_party_channel.{vendor}.{key} is invalid."
    if state.tags is not None and audience != "all":
        tags = audience.get("tag", []) + audience.get("tag_and", [])
        if tags and not any(state.tags.get(t, 0) > 0 for t in tags):
            return 1011, "cannot find user by this audience"
    return None


async def push(request: web.Request) -> web.Response:
    app, state = request.app, request.app[STATE]
    injector = app[FAULTS]
    if injector.in_outage():
        return web.Response(status=503, text="503 Service Temporarily Unavailable")
    await injector.delay()
    raw = await request.read()
    try:
        body: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        body = None
    entry = app[RECORDER].record(request, body if body is not None else raw.decode("utf-8", "replace"))
    pushed = len(state.pushes)
    validate_only = request.path == VALIDATE
    response = _push(request, state, injector.next_code(), body, validate_only=validate_only)
    entry["response_status"] = response.status
    if response.status == 200 and not validate_only and (flagged := unclassified(body)):
        entry["unclassified_vendors"] = flagged
    if len(state.pushes) > pushed and await injector.reply_lost(request):
        entry["reply_lost"] = True
    return response


def unclassified(body: dict[str, Any]) -> list[str]:
    """Vendors whose phones would not show this (Android) push as a classified message."""
    platform = body.get("platform")
    if platform != "all" and "android" not in (platform or []):
        return []
    vendors = (body.get("options") or {}).get("third_party_channel") or {}
    return [v for v, (key, _allowed) in _CLASSIFIED_BY.items() if vendors.get(v, {}).get(key) in (None, "")]


def _push(request: web.Request, state: JPushState, injected: int | None, body: Any, *,
          validate_only: bool = False) -> web.Response:
    if injected is not None:
        headers = {"X-Rate-Limit-Quota": str(state.quota), "X-Rate-Limit-Remaining": "0",
                   "X-Rate-Limit-Reset": "7"} if injected == 2002 else None
        return error(injected, headers=headers)
    app_key = _app_key(request, state)
    if app_key is None:
        return error(1004)
    allowed, headers = _rate(state, app_key)
    if not allowed:
        return error(2002, headers=headers)
    if (problem := _validate(state, body)) is not None:
        return error(*problem)
    sendno = str((body.get("options") or {}).get("sendno", 0))
    msg_id = str(next(state.ids))
    if validate_only:
        return web.json_response({"sendno": sendno, "msg_id": msg_id}, headers=headers)
    state.pushes.append({"app_key": app_key, "msg_id": msg_id, "body": body})
    if flagged := unclassified(body):
        state.unclassified.append({"msg_id": msg_id, "vendors": flagged})
    return web.json_response({"sendno": sendno, "msg_id": msg_id}, headers=headers)


async def pushes(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].pushes)


def build_app(faults: Faults | None = None, *, apps: dict[str, str] | None = None,
              tags: dict[str, int] | None = None, quota: int = 600, window_s: int = 60) -> web.Application:
    """The JPush look-alike.

    ``apps`` maps AppKey -> Master Secret; ``tags`` maps tag -> number of devices carrying it (None: every tag
    has devices; a tag absent or 0 gets 1011); ``quota`` pushes per ``window_s`` seconds per AppKey.
    """
    app = web.Application()
    add_sandbox_routes(app, faults)
    app[STATE] = JPushState(dict(apps if apps is not None else DEFAULT_APPS), tags, quota, window_s)
    app.router.add_post(PUSH, push)
    app.router.add_post(VALIDATE, push)
    app.router.add_get("/_sandbox/pushes", pushes)
    return app
