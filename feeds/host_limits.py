"""Polite concurrency: at most N fetches at a time per upstream host, shared by the HTTP and the
browser fetcher (each holds its own table).

The table is bounded: a hub that meets many hosts (article links point anywhere) keeps at most
``max_hosts`` idle entries, dropping the least recently used. An entry in use — held or waited on
— is never dropped, so two fetches to one host always share one semaphore.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _Slot:
    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0                        # holding or waiting


class HostLimits:
    def __init__(self, per_host: int, *, max_hosts: int = 256) -> None:
        self.per_host = per_host
        self.max_hosts = max_hosts
        self._slots: OrderedDict[str, _Slot] = OrderedDict()

    def __len__(self) -> int:
        return len(self._slots)

    @asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        """Wait for one of ``host``'s slots and keep it for the ``async with`` body."""
        host = host.lower()
        slot = self._slots.get(host)
        if slot is None:
            slot = self._slots[host] = _Slot(self.per_host)
        else:
            self._slots.move_to_end(host)
        slot.users += 1                       # before pruning: this slot must survive it
        self._prune()
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1

    def _prune(self) -> None:
        excess = len(self._slots) - self.max_hosts
        if excess <= 0:
            return
        idle = [host for host, slot in self._slots.items() if slot.users == 0][:excess]
        for host in idle:
            del self._slots[host]
