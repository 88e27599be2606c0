"""State and error bodies of the WeChat look-alike (see sandbox/wechat.py)."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ERRMSG = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    40005: "invalid file type", 40007: "invalid media_id", 40009: "invalid image size",
    40013: "invalid appid", 40014: "invalid access_token", 40125: "invalid appsecret",
    40164: "invalid ip 127.0.0.1, not in whitelist", 41001: "access_token missing",
    42001: "access_token expired", 45002: "content size out of limit", 45003: "title size out of limit",
    45004: "description size out of limit",
    45008: "article size out of limit", 45009: "reach max api daily quota limit",
    45028: "has no masssend quota", 45065: "clientmsgid exist", 45166: "invalid content",
    48001: "api unauthorized", 53503: "该草稿未通过发布检查",
    50004: "禁止使用 token 接口", 50007: "账号已冻结",
    89501: "此IP正在等待管理员确认,请联系管理员", 89503: "此IP调用需要管理员确认,请联系管理员",
    89504: "群发需要管理员审核", 89505: "群发需要管理员确认",
    89506: "24小时内该IP被管理员拒绝调用两次，24小时内不可再使用该IP调用",
    89507: "1小时内该IP被管理员拒绝调用一次，1小时内不可再使用该IP调用",
}
TOKEN_CODES = frozenset({40001, 40014, 42001})
MMBIZ = re.compile(r"^https?://mmbiz\.qpic\.cn/")
IMG_SRC = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)


@dataclass
class Job:
    publish_id: str
    media_id: str
    article: dict[str, Any]
    ready_at: float
    status: int            # final status once ready_at has passed
    article_id: str


@dataclass
class WechatState:
    appid: str
    secret: str
    callback_url: str | None
    callback_token: str
    publish_delay_s: float
    review_reject_titles: list[str]
    strict_images: bool
    mass_quota: int
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)   # token -> {"calls", "dead", "kind"}
    current: str | None = None             # the stable_token endpoint's token
    plain_current: str | None = None       # the /cgi-bin/token endpoint's token (an isolated pool)
    forced: list[float] = field(default_factory=list)   # wall times of forced stable_token refreshes
    materials: dict[str, bytes] = field(default_factory=dict)
    drafts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    mass: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_msg_ids: set[str] = field(default_factory=set)
    ids: itertools.count = field(default_factory=lambda: itertools.count(2247483001))
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    events_sent: list[dict[str, Any]] = field(default_factory=list)
    callback_aes_key: str | None = None      # set: events go out encrypted (safe mode), as WeChat does then
    now: Callable[[], float] = time.time     # callback timestamps (tests pass their fake clock's)
    hold_code: int | None = None           # an account-level condition answered to every call
    mass_hold_code: int | None = None      # 89504/89505: mass sends wait for the admin

    def issue(self, kind: str = "stable") -> str:
        """A new token of ``kind``; only the previous token of the same kind dies.

        getStableAccessToken: "与 getAccessToken 获取的调用凭证完全隔离，互不影响"
        (https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken, 注意事项).
        """
        attr = "current" if kind == "stable" else "plain_current"
        previous = getattr(self, attr)
        if previous:
            self.tokens[previous]["dead"] = True
        token = "sbx_" + secrets.token_urlsafe(24)
        setattr(self, attr, token)
        self.tokens[token] = {"calls": 0, "dead": False, "kind": kind}
        return token


STATE = web.AppKey("wechat_state", WechatState)


def err(code: int, msg: str | None = None) -> dict[str, Any]:
    """The real API's error body."""
    return {"errcode": code, "errmsg": msg or ERRMSG.get(code, "injected error")}
