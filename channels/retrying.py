"""In-call retries (tenacity), one policy shape for every platform client and the dispatcher.

Only failures that cannot have reached the platform are retried by default — a connection that
never opened — so an in-call retry can never post twice. Clients whose calls are idempotent (a key
the platform honours) may widen ``on`` to timeouts and dropped connections.
"""

from __future__ import annotations

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

NEVER_SENT: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError,)


def in_call_retrying(attempts: int, *, on: tuple[type[BaseException], ...] = NEVER_SENT,
                     wait_s: float = 0.5, max_wait_s: float = 4.0) -> AsyncRetrying:
    """``attempts`` tries in all (1 = no retry); the last failure is re-raised."""
    return AsyncRetrying(retry=retry_if_exception_type(on), stop=stop_after_attempt(max(attempts, 1)),
                         wait=wait_exponential(multiplier=wait_s, max=max_wait_s), reraise=True)
