"""channels.failures: one reading of a failed platform call for every client."""

from __future__ import annotations

import aiohttp
import aiosmtplib
import pytest
from aiohttp.client_reqrep import ConnectionKey

from channels.base import AuthExpired, PermanentError, RetryLater
from channels.failures import BadReply, Platform, as_channel_error, may_have_reached, safe_to_repeat

P = Platform("测试平台", api="测试平台接口", sent_note="（可能已发出）", credentials="密钥")


def _refused() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))


@pytest.mark.parametrize(("exc", "reached"), [
    (_refused(), False),
    (aiohttp.ConnectionTimeoutError(), False),
    (aiosmtplib.SMTPConnectError("refused"), False),
    (TimeoutError(), True),
    (aiohttp.ServerDisconnectedError(), True),
    (aiohttp.ClientPayloadError("cut"), True),
    (BadReply(200, "not JSON"), True),
    (BadReply(502, "gateway page"), True),
    (BadReply(429, "limited"), False),
])
def test_only_a_connection_that_never_opened_proves_nothing_was_sent(exc: BaseException, reached: bool) -> None:
    assert may_have_reached(exc) is reached


def test_ambiguous_only_when_the_call_sends_and_may_have_reached() -> None:
    timeout = P.transport(TimeoutError(), sends=True)
    assert timeout.ambiguous and timeout.reason == "渠道故障：测试平台接口超时（可能已发出）"
    read = P.transport(TimeoutError(), sends=False)
    assert not read.ambiguous and read.reason == "渠道故障：测试平台接口超时"
    refused = P.transport(_refused(), sends=True)
    assert not refused.ambiguous and refused.reason == "渠道故障：无法连接测试平台接口"
    dropped = P.transport(aiohttp.ServerDisconnectedError(), sends=True)
    assert dropped.ambiguous and "网络错误" in dropped.reason


def test_unreadable_answers() -> None:
    garbled = P.transport(BadReply(200, "not JSON"), sends=True)
    assert garbled.ambiguous and garbled.reason.startswith("渠道故障：测试平台应答无法解析")
    gateway = P.transport(BadReply(502, "html"), sends=True)
    assert gateway.ambiguous and "网关出错（HTTP 502）" in gateway.reason
    limited = P.transport(BadReply(429, "html"), sends=True)
    assert not limited.ambiguous and limited.reason == "渠道故障：测试平台接口限流"


def test_details_never_carry_an_aiohttp_message() -> None:
    """An aiohttp message may hold the request URL, and WeChat puts the access token in it."""
    exc = aiohttp.ClientResponseError(None, (), status=500, message="boom https://x/?access_token=SECRET")  # type: ignore[arg-type]
    assert "SECRET" not in P.transport(exc, sends=True).detail


@pytest.mark.parametrize(("status", "kind", "reason"), [
    (429, RetryLater, "渠道故障：测试平台接口限流"),
    (503, RetryLater, "渠道故障：测试平台接口服务暂不可用（HTTP 503）"),
    (401, AuthExpired, "测试平台拒绝签名或凭据（HTTP 401），请管理员核对密钥"),
    (403, AuthExpired, "测试平台拒绝签名或凭据（HTTP 403），请管理员核对密钥"),
    (404, PermanentError, "测试平台拒收（HTTP 404）"),
])
def test_bare_statuses(status: int, kind: type, reason: str) -> None:
    error = P.http_status(status, "detail", retry_after=30)
    assert type(error) is kind and error.reason == reason and error.code == status
    if isinstance(error, RetryLater):
        assert error.retry_after == 30 and not error.ambiguous


def test_unknown_codes() -> None:
    refused = P.rejected(12345, "bad thing", "detail")
    assert isinstance(refused, PermanentError) and refused.reason == "测试平台拒收（错误码 12345）：bad thing"
    assert refused.code == 12345
    outage = P.rejected(12345, "", "detail", http_status=500)
    assert isinstance(outage, RetryLater) and outage.code == 12345


async def test_calling_turns_transport_failures_into_retry_later_and_lets_typed_errors_pass() -> None:
    with pytest.raises(RetryLater) as info, P.calling(sends=True, detail="POST /x", code="network"):
        raise TimeoutError
    assert info.value.ambiguous and info.value.code == "network" and info.value.detail == "POST /x: TimeoutError"
    mine = PermanentError("拒收", "detail")
    with pytest.raises(PermanentError) as passed, P.calling(sends=True):
        raise mine
    assert passed.value is mine


def test_safe_to_repeat() -> None:
    assert safe_to_repeat(_refused(), idempotent=False)
    assert not safe_to_repeat(TimeoutError(), idempotent=False)
    assert safe_to_repeat(TimeoutError(), idempotent=True)
    assert safe_to_repeat(BadReply(503, "x"), idempotent=True)
    assert not safe_to_repeat(RetryLater("x"), idempotent=True)      # the platform answered: its answer stands
    assert not safe_to_repeat(ValueError(), idempotent=True)


def test_what_the_dispatcher_acts_on() -> None:
    typed = RetryLater("限流", retry_after=5)
    assert as_channel_error(typed) is typed
    refused = as_channel_error(_refused())
    assert isinstance(refused, RetryLater) and not refused.ambiguous
    assert refused.reason == "渠道不可达：无法连接平台接口"
    timeout = as_channel_error(TimeoutError())
    assert isinstance(timeout, RetryLater) and timeout.ambiguous
    assert timeout.reason == "发送结果不明：平台响应超时或连接中断"
    bug = as_channel_error(KeyError("x"))
    assert isinstance(bug, RetryLater) and bug.ambiguous and bug.reason == "系统内部错误：KeyError"
