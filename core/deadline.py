"""A fetch deadline that starts when the request starts, not while it waits for its turn.

A poll of one source is bounded by a deadline (``syndicator.watcher``): a wedged fetch must not keep
its source busy for ever. But thousands of sources on one host share a few request slots
(``core.host_limits``), and a source whose request is 400th in its host's queue is not slow — it is
waiting. So the host queue stops the deadline's clock while the task waits for a slot, a polite gap or
a host-wide Retry-After, and starts it again, with the time it had left, once its request may go.

The deadline is found through a context variable: the poll sets it, the host queue (several calls
down, in the same task) pauses it. A wait outside any deadline is simply a wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType

_current: ContextVar[Deadline | None] = ContextVar("feeds_deadline", default=None)


class Deadline:
    """``async with Deadline(seconds):`` — asyncio.timeout whose clock is paused by ``queued()``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.queued_seconds = 0.0              # how long the body waited for its turns, in all
        self._scope = asyncio.timeout(seconds)
        self._paused = 0
        self._left = seconds
        self._since = 0.0

    def expired(self) -> bool:
        return self._scope.expired()

    async def __aenter__(self) -> Deadline:
        await self._scope.__aenter__()
        self._token = _current.set(self)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        _current.reset(self._token)
        return await self._scope.__aexit__(kind, exc, tb)

    def _pause(self) -> bool:
        if self._scope.expired():              # already fired: the cancellation is on its way
            return False
        loop = asyncio.get_running_loop()
        if self._paused == 0:
            when = self._scope.when()
            self._left = self.seconds if when is None else when - loop.time()
            self._since = loop.time()
            self._scope.reschedule(None)
        self._paused += 1
        return True

    def _resume(self) -> None:
        self._paused -= 1
        if self._paused or self._scope.expired():
            return
        loop = asyncio.get_running_loop()
        self.queued_seconds += loop.time() - self._since
        self._scope.reschedule(loop.time() + max(self._left, 0.0))


@contextmanager
def queued() -> Iterator[None]:
    """Wrap a wait for a turn (a host slot, a polite gap): the current deadline, if any, does not run."""
    deadline = _current.get()
    paused = deadline is not None and deadline._pause()
    try:
        yield
    finally:
        if paused and deadline is not None:
            deadline._resume()
