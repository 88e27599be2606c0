"""In-call retries (tenacity): the one retry layer inside a send, and it lives in the clients.

Why here and not in the dispatcher: only the client knows whether its call may be repeated (a CMS key the
platform honours, a WeChat token fetch, a read) and it retries *before* turning a transport failure into a
typed error (channels.failures). The dispatcher does not retry in-call at all; it acts on the typed error
by scheduling the next attempt (backoff, reconciliation first when ambiguous). Two nested layers would
multiply the attempts (3 × 3) and hide the clients' decisions.

Only failures that cannot have reached the platform are retried by default — a connection that
never opened — so an in-call retry can never post twice. Clients whose calls are idempotent (a key
the platform honours) may widen ``on`` to timeouts and dropped connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from channels.failures import NEVER_SENT

T = TypeVar("T")


def in_call_retrying(attempts: int, *, on: tuple[type[BaseException], ...] = NEVER_SENT,
                     wait_s: float = 0.5, max_wait_s: float = 4.0) -> AsyncRetrying:
    """``attempts`` tries in all (1 = no retry); the last failure is re-raised."""
    return AsyncRetrying(retry=retry_if_exception_type(on), stop=stop_after_attempt(max(attempts, 1)),
                         wait=wait_exponential(multiplier=wait_s, max=max_wait_s), reraise=True)


async def retry_call(call: Callable[[], Awaitable[T]], attempts: int, *,
                     on: tuple[type[BaseException], ...] = NEVER_SENT, wait_s: float = 0.5,
                     max_wait_s: float = 4.0) -> T:
    """``call()`` with in-call retries. The first try runs bare: nearly every call succeeds, and a fan-out
    makes tens of thousands of them, so the retrier is built only once one has failed."""
    try:
        return await call()
    except on:
        if attempts <= 1:
            raise
    await asyncio.sleep(min(wait_s, max_wait_s))
    async for attempt in in_call_retrying(attempts - 1, on=on, wait_s=wait_s, max_wait_s=max_wait_s):
        with attempt:
            return await call()
    raise AssertionError("unreachable")
