"""In-call retries: only what cannot have reached the platform is retried, and a success costs no retrier."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from channels import retrying
from channels.retrying import retry_call


def _refused() -> aiohttp.ClientConnectorError:
    key = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


async def test_a_first_success_builds_no_retrier(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("retrier built for a call that succeeded")

    monkeypatch.setattr(retrying, "in_call_retrying", boom)
    call = Flaky([])
    assert await retry_call(call, 3) == "ok" and call.calls == 1


async def test_a_connection_that_never_opened_is_retried_then_given_up() -> None:
    call = Flaky([_refused(), _refused()])
    assert await retry_call(call, 3, wait_s=0.001) == "ok" and call.calls == 3
    call = Flaky([_refused(), _refused(), _refused()])
    with pytest.raises(aiohttp.ClientConnectorError):
        await retry_call(call, 3, wait_s=0.001)
    assert call.calls == 3


async def test_what_may_have_reached_the_platform_is_not_retried() -> None:
    call = Flaky([TimeoutError()])
    with pytest.raises(TimeoutError):
        await retry_call(call, 3, wait_s=0.001)
    assert call.calls == 1
    call = Flaky([_refused()])
    with pytest.raises(aiohttp.ClientConnectorError):
        await retry_call(call, 1)
    assert call.calls == 1
