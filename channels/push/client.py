"""Thin aiohttp client for JPush ``POST /v3/push`` and the mapping of its error codes to typed errors.

Auth: "Authorization: Basic base64(appKey:masterSecret)" (https://docs.jiguang.cn/jpush/server/push/server_overview).
Error body: ``{"error": {"code": N, "message": "..."}}`` with the HTTP status the code table gives.
Code table: https://docs.jiguang.cn/jpush/server/push/rest_api_v3_push "调用返回" (1000–1030, stored copy in
github.com/jpush/jpush-docs), 2002–2005 as listed in the same table's current revision (mirrored by SDKs):
2002 API调用频率超出该应用的限制, 2003 该应用appkey已被限制调用 API, 2004 无权限执行当前操作,
2005 信息发送量超出合理范围.
Rate limiting (github.com/jpush/jpush-docs zh/JPush/docs/server/待删除/api_rate_limiting.md, "API 频率控制"):
"频率控制基于 AppKey 来定义"; "所有的 HTTP API Response Header 里都加了三项频率控制信息": X-Rate-Limit-Limit /
-Remaining ("当前时间窗口剩余的可用次数") / -Reset ("距离时间窗口重置剩余的秒数") — on successful replies too; over the
limit HTTP 429. That older page names the code 2001, newer tables 2002 — both are handled. The README also names
X-Rate-Limit-Quota (newer name of -Limit).
The master secret lives only in the Authorization header, never in an exception message or log line; error text
from JPush is scrubbed of it before it becomes a reason.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from channels.base import AuthExpired, ChannelError, PermanentError, RetryLater
from channels.failures import BadReply, Platform
from channels.retrying import retry_call
from channels.scrub import scrub

# A push is not idempotent and JPush has no lookup by key: a request that may have reached it is ambiguous, so
# the hub checks its own record first and marks a resend as a possible duplicate.
JPUSH = Platform("极光推送", api="极光推送接口", sent_note="（推送可能已发出，重试可能重复推送）",
                 credentials="AppKey 与 Master Secret")
PUSH_PATH = "/v3/push"
VALIDATE_PATH = "/v3/push/validate"
NO_TARGET = 1011
RATE_CODES = {2001, 2002}
REASONS: dict[int, tuple[type[ChannelError], str]] = {
    1000: (RetryLater, "渠道故障：极光推送系统内部错误（1000）"),
    1001: (PermanentError, "极光推送只支持 HTTP POST（1001），需人工处理"),
    1002: (PermanentError, "极光推送缺少必须的参数（1002），需人工处理"),
    1003: (PermanentError, "极光推送参数值不合法（1003），需人工处理"),
    1004: (AuthExpired, "极光推送验证失败（1004），请管理员核对 AppKey 与 Master Secret"),
    1005: (PermanentError, "推送消息体太大（1005），需人工处理"),
    1008: (AuthExpired, "极光推送 AppKey 非法（1008），请管理员核对凭据"),
    1009: (PermanentError, "推送对象中有不支持的字段（1009），需人工处理"),
    1011: (PermanentError,
           "没有满足条件的推送目标（1011）：没有设备绑定该单位的受众标签，请核对 audience_tag_template"),
    1020: (PermanentError, "极光推送只支持 HTTPS（1020），请管理员把 base_url 改为 https"),
    1030: (RetryLater, "渠道故障：极光推送内部服务超时（1030）"),
    2001: (RetryLater, "渠道故障：极光推送接口限流"),
    2002: (RetryLater, "渠道故障：极光推送接口限流"),
    2003: (AuthExpired, "该应用 AppKey 已被极光限制调用（2003），请管理员联系极光"),
    2004: (AuthExpired, "无权限执行推送（2004），请管理员核对极光应用权限"),
    2005: (RetryLater, "渠道故障：推送量超出极光合理范围（2005）"),
}
DEFAULT_QUOTA_BACKOFF_S = 3600.0


class JPushApiError(Exception):
    def __init__(self, http_status: int, code: int | None, message: str, reset_s: float | None) -> None:
        super().__init__(f"HTTP {http_status}, code {code}: {message[:200]}")
        self.http_status = http_status
        self.code = code
        self.message = message[:200]
        self.reset_s = reset_s


def to_channel_error(exc: JPushApiError) -> ChannelError:
    detail = f"jpush {exc}"
    if exc.code in REASONS:
        cls, reason = REASONS[exc.code]
        if cls is RetryLater:
            wait = exc.reset_s if exc.code in RATE_CODES else (exc.reset_s or (
                DEFAULT_QUOTA_BACKOFF_S if exc.code == 2005 else None))
            return RetryLater(reason, detail, retry_after=wait, code=exc.code)
        return cls(reason, detail, code=exc.code)
    if exc.http_status in (401, 403, 429) or exc.http_status >= 500:
        return JPUSH.http_status(exc.http_status, detail, retry_after=exc.reset_s, code=exc.code)
    return JPUSH.rejected(exc.code, exc.message, detail, http_status=exc.http_status)


def _reset_seconds(headers: Any) -> float | None:
    try:
        value = float(headers.get("X-Rate-Limit-Reset", ""))
    except ValueError:
        return None
    return value if 0 < value <= 86_400 else None


def _remaining(headers: Any) -> int | None:
    try:
        return int(headers.get("X-Rate-Limit-Remaining", ""))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class PushReply:
    """A successful /v3/push answer and the AppKey's rate-limit window as the headers gave it."""

    body: dict[str, Any]
    remaining: int | None = None      # X-Rate-Limit-Remaining: calls left in this window
    reset_s: float | None = None      # X-Rate-Limit-Reset: seconds until the window resets


class JPushClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, timeout_s: float = 30.0,
                 connect_retries: int = 2) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.connect_retries = connect_retries

    async def push(self, app_key: str, master_secret: str, payload: dict[str, Any], *,
                   path: str = PUSH_PATH) -> PushReply:
        """POST /v3/push (or /v3/push/validate: the same checks, nothing sent); ``{sendno, msg_id}`` and the
        rate-limit headers, else JPushApiError / RetryLater."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        # "Authorization: Basic base64(appKey:masterSecret)"; built by hand (aiohttp's BasicAuth is deprecated)
        token = base64.b64encode(f"{app_key}:{master_secret}".encode()).decode("ascii")
        # Retried only when the connection never opened: nothing was pushed. validate sends nothing.
        with JPUSH.calling(sends=path == PUSH_PATH, detail=path):
            return await retry_call(lambda: self._post(path, body, "Basic " + token, (master_secret, token)),
                                    self.connect_retries + 1)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, path: str, body: bytes, auth: str, secrets: tuple[str, ...]) -> PushReply:
        headers = {"Content-Type": "application/json", "Authorization": auth}
        async with self.session.post(self.base_url + path, data=body, headers=headers, timeout=self.timeout) as resp:
            raw, status, reset = await resp.read(), resp.status, _reset_seconds(resp.headers)
            remaining = _remaining(resp.headers)
        try:
            data = json.loads(raw.decode("utf-8", "replace"))
        except ValueError:
            data = None
        if status == 200 and isinstance(data, dict) and "msg_id" in data:
            return PushReply(data, remaining, reset)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            try:
                code = int(error.get("code"))
            except (TypeError, ValueError):
                code = None
            raise JPushApiError(status, code, scrub(str(error.get("message") or ""), *secrets), reset)
        if status == 200 or status >= 500:     # a 5xx page from a gateway: JPush may have pushed it
            raise BadReply(status, f"unreadable body ({len(raw)} bytes)")
        raise JPushApiError(status, None, f"non-JSON body ({len(raw)} bytes)", reset)
