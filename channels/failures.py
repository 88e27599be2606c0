"""What a failed platform call means, decided once for every client.

Each client keeps its platform's own code table (Weibo ``error_code``, WeChat ``errcode``, JPush ``error.code``,
robot ``errcode``) and turns a code it knows into a typed error itself; everything else — a connection that never
opened, a timeout, a dropped connection, an answer that cannot be read, a bare HTTP status, a code no table
lists — goes through a :class:`Platform` here, so the typed error (channels.base) and above all whether the
request may have reached the platform (``RetryLater.ambiguous``) are the same for every platform.

The rule for "may have reached": only a connection that never opened (or never finished opening) proves
nothing was sent. A timeout, a dropped connection or an answer we cannot read may hide a request the platform
acted on. Such a failure is *ambiguous* only for a call that ``sends``: one that would act twice if repeated
(a publish without a key the platform honours). Reads, token calls and idempotent writes are never ambiguous.
A 429 is a refusal before acting; a readable error answer is an answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import aiosmtplib

from channels.base import AuthExpired, ChannelError, PermanentError, RetryLater
from core.http_text import http_status_text

# Failures that prove the request never left: safe to repeat at once, never ambiguous.
NEVER_SENT: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError,
                                               aiosmtplib.SMTPConnectError)


class BadReply(Exception):
    """The platform (or a gateway before it) answered, but not with an answer we can read: a non-JSON body, a
    5xx page, a success without the fields it must have. Raised by clients, turned into RetryLater here."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


# Everything a client lets reach the helper from a request: the transport's errors and unreadable answers.
TRANSPORT: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError, BadReply)


def may_have_reached(exc: BaseException) -> bool:
    """Whether the failed request may have reached the platform: False only when it provably never left."""
    if isinstance(exc, BadReply):
        return exc.status != 429
    return not isinstance(exc, NEVER_SENT)


def safe_to_repeat(exc: BaseException, *, idempotent: bool) -> bool:
    """Whether an in-call retry may repeat the request at once: a transport failure of an idempotent call, or
    one that provably never left. Never a typed ChannelError: the platform answered, its answer stands."""
    if not isinstance(exc, TRANSPORT):
        return False
    return idempotent or not may_have_reached(exc)


@dataclass(frozen=True, slots=True)
class Platform:
    """How operators call one platform, for the reasons this module writes.

    ``name`` is the platform ("微博"), ``api`` its interface ("微博接口"), ``sent_note`` what an ambiguous reason
    adds (the post may exist), ``prefix`` what every transient reason starts with, ``credentials`` what a
    refused login asks the admin to check.
    """

    name: str
    api: str = ""
    sent_note: str = "（请求可能已到达平台，重试前先核对）"
    prefix: str = "渠道故障："
    credentials: str = "凭据"

    @property
    def interface(self) -> str:
        return self.api or self.name

    def transport(self, exc: BaseException, *, sends: bool, detail: str = "",
                  code: str | int | None = None) -> RetryLater:
        """The RetryLater for a request that got no readable answer (see the module docstring)."""
        ambiguous = sends and may_have_reached(exc)
        detail = detail or _described(exc)
        if isinstance(exc, BadReply):
            if exc.status == 429:
                return self.limited(detail, code=code)
            what = f"{self.name}应答无法解析" if exc.status < 300 else f"{self.interface}{http_status_text(exc.status)}"
        elif not may_have_reached(exc):
            what = f"无法连接{self.interface}"
        elif isinstance(exc, TimeoutError):
            what = f"{self.interface}超时"
        else:
            what = f"{self.interface}网络错误"
        return RetryLater(self.prefix + what + (self.sent_note if ambiguous else ""), detail, code=code,
                          ambiguous=ambiguous)

    def limited(self, detail: str, *, retry_after: float | None = None, code: str | int | None = None) -> RetryLater:
        return RetryLater(f"{self.prefix}{self.interface}限流", detail, retry_after=retry_after, code=code)

    def http_status(self, status: int, detail: str, *, message: str = "", retry_after: float | None = None,
                    code: str | int | None = None) -> ChannelError:
        """The typed error for an error status whose body named no code a table knows."""
        code = status if code is None else code
        if status == 429:
            return self.limited(detail, retry_after=retry_after, code=code)
        if status >= 500:
            return RetryLater(f"{self.prefix}{self.interface}{http_status_text(status)}", detail,
                              retry_after=retry_after, code=code)
        if status in (401, 403):
            return AuthExpired(f"{self.name}拒绝签名或凭据（HTTP {status}），请管理员核对{self.credentials}", detail,
                               code=code)
        return PermanentError(f"{self.name}拒收（HTTP {status}）" + (f"：{message}" if message else ""), detail,
                              code=code)

    def rejected(self, code: int | None, message: str, detail: str, *, http_status: int = 200,
                 retry_after: float | None = None) -> ChannelError:
        """The typed error for a platform error code the client's own table does not list."""
        if http_status >= 500 or http_status == 429:
            return self.http_status(http_status, detail, retry_after=retry_after, code=code)
        return PermanentError(f"{self.name}拒收（错误码 {code}）：{message or '无说明'}", detail, code=code)

    @contextlib.contextmanager
    def calling(self, *, sends: bool, detail: str = "", code: str | int | None = None) -> Iterator[None]:
        """Run a request; its transport failures leave as RetryLater (typed errors pass through unchanged).
        ``code`` is what such a RetryLater records as the platform's code (WeChat's "network")."""
        try:
            yield
        except TRANSPORT as exc:
            why = f"{detail}: {_described(exc)}" if detail else ""
            raise self.transport(exc, sends=sends, detail=why, code=code) from None


def _described(exc: BaseException) -> str:
    """The failure for a log line: our own BadReply text, else only the type — an aiohttp message may carry the
    request URL, and some platforms put the access token in it."""
    return str(exc)[:300] if isinstance(exc, BadReply) else type(exc).__name__


def as_channel_error(exc: BaseException) -> ChannelError:
    """Any exception of a send as the typed error the dispatcher acts on: the dispatcher's own send timeout, or
    a channel that let an unexpected exception through (an unknown one may have posted: ambiguous)."""
    if isinstance(exc, ChannelError):
        return exc
    if isinstance(exc, NEVER_SENT):
        return RetryLater("渠道不可达：无法连接平台接口", str(exc))
    if isinstance(exc, TRANSPORT):
        return RetryLater("发送结果不明：平台响应超时或连接中断", type(exc).__name__, ambiguous=True)
    return RetryLater(f"系统内部错误：{type(exc).__name__}", str(exc), ambiguous=True)
