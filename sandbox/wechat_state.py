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
    45004: "description size out of limit", 45009: "reach max api daily quota limit",
    45028: "has no masssend quota", 45065: "clientmsgid exist", 45166: "invalid content",
    48001: "api unauthorized", 53503: "该草稿未通过发布检查",
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
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)   # token -> {"calls", "dead"}
    current: str | None = None
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

    def issue(self) -> str:
        if self.current:
            self.tokens[self.current]["dead"] = True
        self.current = "sbx_" + secrets.token_urlsafe(24)
        self.tokens[self.current] = {"calls": 0, "dead": False}
        return self.current


STATE = web.AppKey("wechat_state", WechatState)


def err(code: int, msg: str | None = None) -> dict[str, Any]:
    """The real API's error body."""
    return {"errcode": code, "errmsg": msg or ERRMSG.get(code, "injected error")}
