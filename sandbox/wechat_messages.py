"""Customer-service and template messages of the WeChat look-alike (mounted by ``sandbox/wechat.py``).

Same paths, bodies and error codes as the real API:
- ``POST /cgi-bin/message/custom/send`` ``{touser, msgtype: "text", text: {content}}``
  (https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage): only within
  48 h after the user last wrote to the account, else 45015 "response out of time limit or subscription is
  canceled"; too many messages in that window → 45047 "out of response count limit"; text longer than
  2048 bytes → 45002 (a limit found by testing, not documented).
- ``POST /cgi-bin/message/template/send`` ``{touser, template_id, data: {key: {value}}, client_msg_id?}``
  (https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage) →
  ``{errcode: 0, errmsg: "ok", msgid}``; unknown template 40037, non-follower 43004, a ``thing`` value over
  20 characters (``character_string`` over 32) → 47003 "argument invalid! data.<key>.value invalid".

Tests steer it through ``app[MESSAGES]``; demos through ``GET/POST /_sandbox/wechat/messages``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.wechat_state import WechatState, err

Route = Callable[[web.Request, WechatState, Any], Awaitable[dict[str, Any]]]
Wrap = Callable[[Route], Callable[[web.Request], Awaitable[web.Response]]]
_LIMITS = {"thing": 20, "const": 20, "character_string": 32, "number": 32, "letter": 32, "phrase": 5, "name": 10}
_KIND = re.compile(r"^([a-z_]+?)\d*$")


@dataclass
class MessageState:
    window_closed: set[str] = field(default_factory=set)   # users who have not written for 48 h
    custom_quota: int | None = None                         # custom messages per user before 45047
    followers: set[str] | None = None                       # None: everyone follows the account
    templates: set[str] | None = None                       # None: any template id exists
    custom: list[dict[str, Any]] = field(default_factory=list)
    template: list[dict[str, Any]] = field(default_factory=list)
    client_msg_ids: set[tuple[str, str]] = field(default_factory=set)
    ids: itertools.count = field(default_factory=lambda: itertools.count(3_100_000_001))


MESSAGES = web.AppKey("wechat_messages", MessageState)


async def custom_send(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    msgs = request.app[MESSAGES]
    user = str(body.get("touser") or "")
    if not user:
        return err(40003, "invalid openid")
    if (msgs.followers is not None and user not in msgs.followers) or user in msgs.window_closed:
        return err(45015, "response out of time limit or subscription is canceled")
    if body.get("msgtype") != "text" or not isinstance(body.get("text"), dict):
        return err(40008, "invalid message type")
    content = str(body["text"].get("content") or "")
    if len(content.encode("utf-8")) > 2048:
        return err(45002, "content size out of limit")
    if msgs.custom_quota is not None and sum(m["touser"] == user for m in msgs.custom) >= msgs.custom_quota:
        return err(45047, "out of response count limit")
    msgs.custom.append({"touser": user, "content": content})
    return {"errcode": 0, "errmsg": "ok"}


async def template_send(request: web.Request, state: WechatState, body: Any) -> dict[str, Any]:
    msgs = request.app[MESSAGES]
    user, template_id = str(body.get("touser") or ""), str(body.get("template_id") or "")
    if msgs.templates is not None and template_id not in msgs.templates:
        return err(40037, "invalid template_id")
    if msgs.followers is not None and user not in msgs.followers:
        return err(43004, "require subscribe")
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        return err(47003, "argument invalid! data invalid")
    for key, slot in data.items():
        match = _KIND.match(key)
        limit = _LIMITS.get(match.group(1)) if match else None
        value = slot.get("value") if isinstance(slot, dict) else None
        if not isinstance(value, str) or (limit is not None and len(value) > limit):
            return err(47003, f"argument invalid! data.{key}.value invalid")
    msgid = next(msgs.ids)
    client_msg_id = body.get("client_msg_id")
    if client_msg_id and (user, client_msg_id) in msgs.client_msg_ids:
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}      # repeated id: sent once only
    if client_msg_id:
        msgs.client_msg_ids.add((user, client_msg_id))
    msgs.template.append({"touser": user, "template_id": template_id,
                          "data": {k: v["value"] for k, v in data.items()}})
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


async def _control(request: web.Request) -> web.Response:
    """GET: messages sent; POST {window_closed?, custom_quota?, followers?, templates?}: steer the rules."""
    msgs = request.app[MESSAGES]
    if request.method == "POST":
        body = await request.json()
        if "window_closed" in body:
            msgs.window_closed = set(body["window_closed"] or [])
        if "custom_quota" in body:
            msgs.custom_quota = body["custom_quota"]
        for name in ("followers", "templates"):
            if name in body:
                setattr(msgs, name, None if body[name] is None else set(body[name]))
    return web.json_response({"custom": msgs.custom, "template": msgs.template})


def add_message_routes(app: web.Application, wrap: Wrap) -> None:
    """Mount the message APIs; ``wrap`` is the look-alike's auth/fault/recording wrapper."""
    app[MESSAGES] = MessageState()
    app.router.add_post("/cgi-bin/message/custom/send", wrap(custom_send))
    app.router.add_post("/cgi-bin/message/template/send", wrap(template_send))
    app.router.add_route("*", "/_sandbox/wechat/messages", _control)
