"""Politeness per upstream host: a queue with at most N requests in flight, a minimum gap between
request starts, and a host-wide pause when the host answers 429/503 with Retry-After. Shared by the
HTTP and the browser fetcher when the hub builds them (one host, one queue).

Retry-After (RFC 9110 §10.2.3; with 503 "how long the service is expected to be unavailable", with
429 per RFC 6585 §4 "how long to wait before making a new request") speaks for the server, not for the
one URL that received it, so every request to that host waits it out — capped, so a year-long value
cannot silence a host.

Waiting here is not slowness: it runs under ``core.deadline.queued()``, which stops the caller's
poll deadline until the request may start.

The table is bounded: a hub that meets many hosts (article links point anywhere) keeps at most
``max_hosts`` idle entries, dropping the least recently used. An entry in use — held or waited on,
or paused by a Retry-After — is never dropped, so two fetches to one host always share one queue.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from core.deadline import queued


@dataclass(frozen=True, slots=True)
class Politeness:
    concurrency: int = 2                       # requests in flight at once
    min_gap: float = 0.0                       # seconds between two request starts


class _Host:
    __slots__ = ("blocked_until", "next_start", "politeness", "semaphore", "users")

    def __init__(self, politeness: Politeness) -> None:
        self.politeness = politeness
        self.semaphore = asyncio.Semaphore(politeness.concurrency)
        self.users = 0                         # holding or waiting
        self.next_start = 0.0                  # loop time before which no request may start (gap)
        self.blocked_until = 0.0               # loop time before which the host asked us to wait


class HostLimits:
    def __init__(self, per_host: int = 2, *, min_gap: float = 0.0, hosts: Mapping[str, Politeness] | None = None,
                 max_block: float = 3600.0, max_hosts: int = 256) -> None:
        self.default = Politeness(per_host, min_gap)
        self.hosts = {h.lower(): p for h, p in (hosts or {}).items()}
        self.max_block = max_block
        self.max_hosts = max_hosts
        self._hosts: OrderedDict[str, _Host] = OrderedDict()

    @property
    def per_host(self) -> int:
        return self.default.concurrency

    def __len__(self) -> int:
        return len(self._hosts)

    def politeness(self, host: str) -> Politeness:
        return self.hosts.get(host.lower(), self.default)

    def _entry(self, host: str) -> _Host:
        entry = self._hosts.get(host)
        if entry is None:
            entry = self._hosts[host] = _Host(self.politeness(host))
        else:
            self._hosts.move_to_end(host)
        return entry

    def block(self, host: str, seconds: float | None) -> None:
        """The host said "come back in ``seconds``" (Retry-After): no request to it starts before then."""
        if seconds is None or not seconds > 0:
            return
        entry = self._entry(host.lower())
        until = asyncio.get_running_loop().time() + min(seconds, self.max_block)
        entry.blocked_until = max(entry.blocked_until, until)
        self._prune()

    def blocked_for(self, host: str) -> float:
        """Seconds until ``host`` may be asked again (0 when it may now)."""
        entry = self._hosts.get(host.lower())
        if entry is None:
            return 0.0
        return max(0.0, entry.blocked_until - asyncio.get_running_loop().time())

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        """Wait for ``host``'s turn (a slot, the polite gap, any Retry-After) and keep the slot for the
        ``async with`` body. The wait does not count against the caller's deadline."""
        entry = self._entry(host.lower())
        entry.users += 1                       # before pruning: this entry must survive it
        self._prune()
        try:
            with queued():
                await entry.semaphore.acquire()
                try:
                    await self._turn(entry)
                except BaseException:
                    entry.semaphore.release()
                    raise
            try:
                yield
            finally:
                entry.semaphore.release()
        finally:
            entry.users -= 1

    @staticmethod
    async def _turn(entry: _Host) -> None:
        loop = asyncio.get_running_loop()
        # A timed wait, re-checked: a Retry-After arriving meanwhile moves the time on (no event to wait for).
        while (wait := max(entry.next_start, entry.blocked_until) - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        entry.next_start = loop.time() + entry.politeness.min_gap

    def _prune(self) -> None:
        excess = len(self._hosts) - self.max_hosts
        if excess <= 0:
            return
        now = asyncio.get_running_loop().time()
        idle = [host for host, e in self._hosts.items() if e.users == 0 and e.blocked_until <= now][:excess]
        for host in idle:
            del self._hosts[host]
