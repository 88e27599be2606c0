"""Thin aiohttp client for Weibo's statuses/share and the mapping of its error codes to typed errors.

Error body (https://open.weibo.com/wiki/Error_code): ``{"request": "/2/statuses/share.json",
"error_code": 20019, "error": "..."}``. The code table cited below is the Error_code page as mirrored in
public SDKs (system codes 1xxxx, service codes 2xxxx, OAuth2 codes 213xx).
The access token travels in the form body only, never in a URL, log line or exception message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from channels.base import AccountHeld, AuthExpired, ChannelError, PermanentError, RetryLater
from channels.failures import TRANSPORT, BadReply, Platform
from channels.retrying import retry_call
from channels.scrub import scrub

WEIBO = Platform("微博", api="微博接口", sent_note="（可能已发布，重试前先核对，重复内容由平台拒收）")
SHARE_PATH = "/2/statuses/share.json"
# https://open.weibo.com/wiki/2/account/rate_limit_status — not itself rate limited; answers
# ``reset_time_in_seconds``. The token goes in the header "Authorization: OAuth2 <token>" (the form the widely
# used sinaweibopy client sends), so it never appears in a URL.
RATE_STATUS_PATH = "/2/account/rate_limit_status.json"
TOKEN_INFO_PATH = "/oauth2/get_token_info"
# https://open.weibo.com/wiki/2/statuses/show — GET, id (int64); the status object with ``visible.type``
# (0 普通微博 … 1 私密微博); 20101 "Target weibo does not exist" (Error_code table) once it is deleted.
SHOW_PATH = "/2/statuses/show.json"
NOT_EXIST = 20101

# Token expired / invalid / revoked (Error_code table: 21314 Token used, 21315 Token expired, 21316 Token revoked,
# 21317 Token rejected, 21319 Accessor was revoked, 21327 expired_token, 21301 Auth failed). 21332
# (invalid_access_token) is what the API answers for a token it does not know; it is not in the stored copies of
# the table (docs/facts.md). 20031 (需要验证码) also needs a person at the account.
AUTH_CODES = {21301, 21314, 21315, 21316, 21317, 21319, 21327, 21332, 20031}
# App-level permission problems: every post of the account will fail until a person acts.
APP_CODES = {10004, 10005, 10013, 10014, 21337}
# The platform restricts the whole account or app until a person acts (AccountHeld: held, alerted, resumed):
# 21321 未审核的应用使用人数超过限制 ("Applications over the unaudited use restrictions"), 20015 账号、IP或应用非法，
# 暂时无法完成此操作 ("Account or ip or app is illgal, can not continue") — Error_code table.
ACCOUNT_HOLDS = {
    21321: "微博应用未通过审核，授权用户数已超过未审核应用的上限（21321），请在微博开放平台提交应用审核后恢复该账号",
    20015: "微博判定账号、IP 或应用非法，暂时无法发布（20015），请登录微博开放平台查看并处理后恢复该账号",
}
# 20014 安全检查参数有误，请再调用一次 ("Param is error, please try again"): call again, soon.
CALL_AGAIN = 20014
# 20017 提交相似的信息, 20019 提交相同的信息, 20111 不能发布相同的微博: Weibo already has this text. That is our post
# only when an earlier attempt of this delivery may have reached Weibo (WeiboChannel decides).
DUPLICATE_CODES = {20017, 20019, 20111}
DUPLICATE_MEANINGS = {20017: "提交相似的信息", 20019: "提交相同的信息", 20111: "不能发布相同的微博"}
# 20032 "Update success, while server slow now, please wait 1-2 minutes": accepted, shown later.
ACCEPTED_SLOW = 20032
# 10022 IP请求频次超过上限, 10023 用户请求频次超过上限, 10024 用户请求特殊接口频次超过上限, 20016 发布内容过于频繁.
# Caps are per hour ("发微博接口单授权用户每小时只能请求 30 次", https://open.weibo.com/wiki/Rate-limiting); the
# newest revision adds "一个应用内单授权用户每天累计只能请求微博开放接口 100 次", which 10023 may also mean.
RATE_CODES = {10022, 10023, 10024, 20016}
# 10001 系统错误, 10002 服务暂停, 10003 远程服务错误, 10009 任务过多, 10010 任务超时, 10011 RPC错误,
# 20022 此IP地址上的行为异常 (back off and try again).
TRANSIENT_CODES = {10001, 10002, 10003, 10009, 10010, 10011, 20022}
PERMANENT_REASONS = {
    10008: "微博接口参数错误",
    10016: "缺少微博接口必选参数",
    10017: "微博拒收：链接不在应用安全域名内或参数值非法",
    10018: "请求内容超过微博长度限制",
    20005: "配图格式不受支持（仅支持 JPG、GIF、PNG）",
    20006: "配图超过 5MB",
    20007: "配图未按 multipart 上传",
    20008: "微博内容为空",
    20012: "微博正文超过140字",
    20013: "微博正文超过300字",
    20018: "微博判定内容包含非法网址",
    20020: "微博判定内容包含广告信息",
    20021: "微博判定内容包含非法内容",
}


@dataclass(frozen=True, slots=True)
class Picture:
    data: bytes
    filename: str
    content_type: str


class WeiboApiError(Exception):
    """Weibo answered with an error body (or an unreadable one)."""

    def __init__(self, http_status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {http_status}, error_code {code}: {message[:200]}")
        self.http_status = http_status
        self.code = code
        self.message = message[:200]


def next_hour_delay(now: datetime, margin_s: float = 30.0) -> float:
    """Seconds until the next full hour (when Weibo's hourly counters reset) plus a margin."""
    top = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return (top - now).total_seconds() + margin_s


def to_channel_error(exc: WeiboApiError, *, now: datetime, reset_in: float | None = None) -> ChannelError:
    """The typed error for a Weibo rejection (duplicates are handled by the caller, not here)."""
    code, detail = exc.code, f"weibo {exc}"
    if code in AUTH_CODES:
        return AuthExpired(f"微博授权已失效（{code}），请管理员重新授权该账号", detail, code=code)
    if code in APP_CODES:
        return AuthExpired(f"微博应用权限不足（{code}），请管理员在微博开放平台处理", detail, code=code)
    if code in ACCOUNT_HOLDS:
        return AccountHeld(ACCOUNT_HOLDS[code], detail, code=code)
    if code == CALL_AGAIN:
        return RetryLater("微博安全检查参数有误，平台要求再调用一次（20014），稍后自动重试", detail, retry_after=10,
                          code=code)
    if code in RATE_CODES:
        wait = reset_in if reset_in and 0 < reset_in <= 86_400 else next_hour_delay(now)
        return RetryLater("渠道故障：微博接口限流", detail, retry_after=wait, code=code)
    if code in TRANSIENT_CODES:
        return RetryLater(f"渠道故障：微博服务暂时不可用（{code}）", detail, code=code)
    if code in PERMANENT_REASONS:
        return PermanentError(f"{PERMANENT_REASONS[code]}（{code}），需人工处理", detail, code=code)
    return WEIBO.rejected(code, exc.message, detail, http_status=exc.http_status)


class WeiboClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, timeout_s: float = 30.0,
                 connect_retries: int = 2) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.connect_retries = connect_retries

    async def share(self, token: str, status: str, rip: str, pic: Picture | None = None) -> dict[str, Any]:
        """POST statuses/share; the decoded status on success, else WeiboApiError / RetryLater."""
        fields = {"access_token": token, "status": status, "rip": rip}

        def form() -> Any:
            if pic is None:
                return fields            # "没有上传图片则采用正常编码方式" (urlencoded)
            data = aiohttp.FormData(fields)  # "有上传图片时需要采用multipart/form-data编码方式"
            data.add_field("pic", pic.data, filename=pic.filename, content_type=pic.content_type)
            return data

        return await self._call("POST", SHARE_PATH, form=form, secrets=(token,), posts=True)

    async def token_info(self, token: str) -> dict[str, Any]:
        """POST /oauth2/get_token_info → {uid, appkey, scope, create_at, expire_in} (https://open.weibo.com/wiki/
        Oauth2/get_token_info; the fields as weiboclient4j's TokenInfo reads them); WeiboApiError on refusal."""
        return await self._call("POST", TOKEN_INFO_PATH, data={"access_token": token}, secrets=(token,))

    async def show(self, token: str, status_id: str) -> dict[str, Any]:
        """GET statuses/show for one post (the token in the Authorization header, never the URL);
        WeiboApiError / RetryLater as for every call."""
        return await self._call("GET", SHOW_PATH, params={"id": status_id},
                                headers={"Authorization": f"OAuth2 {token}"}, secrets=(token,))

    async def rate_limit_reset(self, token: str) -> float | None:
        """Seconds until the user's counters reset, if Weibo will say; None on any failure."""
        try:
            body = await self._call("GET", RATE_STATUS_PATH, headers={"Authorization": f"OAuth2 {token}"},
                                    secrets=(token,))
            value = float(body.get("reset_time_in_seconds"))
        except (ChannelError, WeiboApiError, *TRANSPORT, TypeError, ValueError):
            return None
        return value if value > 0 else None

    async def _call(self, method: str, path: str, *, secrets: tuple[str, ...] = (), posts: bool = False,
                    form: Callable[[], Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """One request, repeated at once only when the connection never opened (nothing was sent, so no duplicate
        can follow). ``posts``: the call publishes, so a lost reply leaves the outcome unknown (ambiguous).
        ``form`` builds the body afresh for each try (a multipart body is consumed by sending it)."""
        url = self.base_url + path

        async def once() -> tuple[int, bytes]:
            options = kwargs | {"data": form()} if form is not None else kwargs
            async with self.session.request(method, url, timeout=self.timeout, **options) as resp:
                return resp.status, await resp.read()

        with WEIBO.calling(sends=posts, detail=path):
            status, raw = await retry_call(once, self.connect_retries + 1)
            try:
                body = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                body = None
            if not isinstance(body, dict):
                if status == 200 or status >= 500 or status == 429:
                    raise BadReply(status, f"non-JSON body ({len(raw)} bytes) on {path}")
                raise WeiboApiError(status, None, f"unreadable body ({len(raw)} bytes)")
        if status == 200 and "error_code" not in body:
            return body
        try:
            code = int(body.get("error_code"))
        except (TypeError, ValueError):
            code = None
        # Weibo echoes parameter values in its messages (10017 "... but get (%s)"): never let a token through.
        raise WeiboApiError(status, code, scrub(str(body.get("error") or ""), *secrets))
