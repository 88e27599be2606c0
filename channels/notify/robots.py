"""Group robots of WeCom (企业微信) and DingTalk (钉钉): one JSON POST to a webhook URL.

WeCom group robot (https://developer.work.weixin.qq.com/document/path/91770, 群机器人配置说明):
``POST {base}/cgi-bin/webhook/send?key=KEY`` with ``{"msgtype": "markdown", "markdown": {"content": …}}``
→ ``{"errcode": 0, "errmsg": "ok"}``. Limits from the same page: 20 messages a minute per robot, markdown
content at most 4096 bytes (UTF-8). Codes seen from the live service (public issue reports, e.g.
zema1/watchvuln#146, qd-today/qd#586, WecomTeam/wecom-openclaw-plugin#48): 93000 "invalid webhook url"
(wrong or deleted key), 45009 "api freq out of limit".

DingTalk custom robot (https://open.dingtalk.com/document/orgapp/custom-robot-access, 自定义机器人接入):
``POST {base}/robot/send?access_token=T&timestamp=MS&sign=S`` with ``{"msgtype": "markdown", "markdown":
{"title", "text"}}`` → ``{"errcode": 0, "errmsg": "ok"}``. With 加签 (signing) on, ``S`` is
url-encoded base64 of HMAC-SHA256 keyed by the secret over ``f"{timestamp}\\n{secret}"``, and the
timestamp (ms) must be within one hour of the server's clock. At most 20 messages a minute per robot; past
that the robot is throttled for 10 minutes. Codes reported from the live service: 310000 (signature,
keyword or IP-whitelist check failed), 300001 (token does not exist), 130101 (sent too fast).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote_plus

import aiohttp

from channels.base import PermanentError, RetryLater
from channels.failures import BadReply, Platform
from channels.scrub import scrub
from channels.wechat.notify import clip_bytes

WECOM_BASE = "https://qyapi.weixin.qq.com"
DINGTALK_BASE = "https://oapi.dingtalk.com"
WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 4096          # DingTalk documents no lower bound we could verify: keep WeCom's
_WECOM_RATE = {45009}
_WECOM_CONFIG = {93000}
_DINGTALK_RATE = {130101}
_DINGTALK_CONFIG = {310000, 300001}
_TIMEOUT = aiohttp.ClientTimeout(total=10)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The ``sign`` query value of a DingTalk robot call (already url-encoded)."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


async def _post_json(session: aiohttp.ClientSession, url: str, payload: dict[str, Any], *secrets: str,
                     service: str) -> dict[str, Any]:
    """POST raw UTF-8 JSON and return the decoded reply; transport trouble is RetryLater."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    # A robot message has no key: one that may have reached the robot is ambiguous (it may show twice).
    robot = Platform(service, prefix="", sent_note="（消息可能已发出）")
    with robot.calling(sends=True, detail=service):
        async with session.post(url, data=body, headers={"Content-Type": "application/json; charset=utf-8"},
                                timeout=_TIMEOUT) as resp:
            if resp.status == 429 or resp.status >= 500:
                raise robot.http_status(resp.status, f"{service} HTTP {resp.status}")
            text = await resp.text()
        try:
            reply = json.loads(text)
        except ValueError:
            raise BadReply(resp.status, scrub(text[:200], *secrets)) from None
    return reply if isinstance(reply, dict) else {}


def _judge(reply: dict[str, Any], service: str, rate: set[int], config: set[int], *secrets: str) -> None:
    code = reply.get("errcode")
    if code == 0:
        return
    message = scrub(str(reply.get("errmsg", "")), *secrets)[:200]
    if code in rate:
        raise RetryLater(f"{service}发送过于频繁，稍后重试（{code}）", message, code=code, retry_after=60)
    if code in config:
        raise PermanentError(f"{service}配置有误（{code}），请检查机器人地址、密钥或安全设置", message, code=code)
    raise PermanentError(f"{service}拒绝了消息（{code}）", message, code=code)


class WecomRobot:
    """A WeCom group robot, addressed by its webhook key."""

    kind = "wecom"

    def __init__(self, session: aiohttp.ClientSession, key: str, base_url: str = WECOM_BASE) -> None:
        self.session, self.key, self.base_url = session, key, base_url.rstrip("/")

    def describe(self) -> str:
        return f"企业微信群机器人 …{self.key[-4:]}"

    async def send(self, title: str, text: str) -> None:
        content = clip_bytes(f"**{title}**\n{text}", WECOM_MAX_BYTES)
        url = f"{self.base_url}/cgi-bin/webhook/send?key={quote_plus(self.key)}"
        reply = await _post_json(self.session, url, {"msgtype": "markdown", "markdown": {"content": content}},
                                 self.key, service="企业微信群机器人")
        _judge(reply, "企业微信群机器人", _WECOM_RATE, _WECOM_CONFIG, self.key)


class DingtalkRobot:
    """A DingTalk custom robot: access token, and the 加签 secret when signing is on."""

    kind = "dingtalk"

    def __init__(self, session: aiohttp.ClientSession, access_token: str, secret: str = "",
                 base_url: str = DINGTALK_BASE, now_ms: Any = None) -> None:
        self.session, self.token, self.secret = session, access_token, secret
        self.base_url = base_url.rstrip("/")
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))

    def describe(self) -> str:
        return f"钉钉群机器人 …{self.token[-4:]}"

    async def send(self, title: str, text: str) -> None:
        url = f"{self.base_url}/robot/send?access_token={quote_plus(self.token)}"
        if self.secret:
            ts = self._now_ms()
            url += f"&timestamp={ts}&sign={dingtalk_sign(self.secret, ts)}"
        payload = {"msgtype": "markdown",
                   "markdown": {"title": title[:64], "text": clip_bytes(f"### {title}\n\n{text}", DINGTALK_MAX_BYTES)}}
        reply = await _post_json(self.session, url, payload, self.token, self.secret, service="钉钉群机器人")
        _judge(reply, "钉钉群机器人", _DINGTALK_RATE, _DINGTALK_CONFIG, self.token, self.secret)
