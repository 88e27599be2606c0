"""Which source to poll next: one queue per upstream host, a bounded number of polls at once.

Thousands of pages on a handful of hosts (a province's 集约化 platform serves hundreds of sites) must
not become thousands of tasks waiting on a few request slots: each task holds its source's state, and
every wait counted against someone's deadline. So polls are *pulled*: a host gets at most
``per_host`` polls running or waiting (twice its request slots, so the next request is ready when
one ends), all hosts together at most ``total``; a slow or failing host fills only its own share.

The store stays the record (``sources.next_check_at``); this is this process's index of it: one
``(due, source id)`` heap per host, ordered by due time, with stale entries skipped when popped. It
costs a few dozen bytes per source, and an idle tick looks at one heap head per host, not at every
source's row.

Spreading: when more sources of one host are due at once than it can take (a restart after a
pause, a new batch of sources), each is moved to ``now + f × window``, where ``f`` in [0, 1) is a
stable hash of its id and ``window`` is at most its interval. The host's requests then flow through
the interval instead of arriving in one instant, and the order is the same after every restart.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def spread_fraction(source_id: str) -> float:
    """A stable number in [0, 1) for this source (the same in every process and after restarts)."""
    digest = hashlib.blake2b(source_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True, slots=True)
class Planned:
    source_id: str
    host: str
    interval: float


def _ts(when: datetime) -> float:
    return when.timestamp()


class PollSchedule:
    def __init__(self, per_host: Callable[[str], int], total: int, spread_seconds: float) -> None:
        self.per_host = per_host               # polls running or waiting at once for a host
        self.total = total
        self.spread_seconds = spread_seconds
        self._heaps: dict[str, list[tuple[float, str]]] = {}
        self._due: dict[str, float] = {}       # source id -> its live heap entry's due time
        self._running: dict[str, int] = {}     # host -> polls started and not done
        self._cap: dict[str, int] = {}
        self.in_flight = 0

    def capacity(self, host: str) -> int:
        cap = self._cap.get(host)
        if cap is None:
            cap = self._cap[host] = self.per_host(host)
        return cap

    def __len__(self) -> int:
        return len(self._due)

    def load(self, planned: Iterable[Planned], stored: dict[str, datetime | None], now: datetime) -> None:
        """Index these sources from their stored next check; a burst due at once on one host is spread."""
        due_now: dict[str, list[Planned]] = {}
        for p in planned:
            when = stored.get(p.source_id)
            if when is not None and when > now:
                self.set(p.source_id, p.host, when)
            else:
                due_now.setdefault(p.host, []).append(p)
        for host, batch in due_now.items():
            spread = len(batch) > self.capacity(host)
            for p in batch:
                window = min(p.interval, self.spread_seconds) if spread else 0.0
                self.set(p.source_id, host, now + timedelta(seconds=spread_fraction(p.source_id) * window))

    def set(self, source_id: str, host: str, due: datetime) -> None:
        """(Re)schedule a source; an older heap entry for it becomes stale."""
        when = _ts(due)
        self._due[source_id] = when
        heapq.heappush(self._heaps.setdefault(host, []), (when, source_id))

    def discard(self, source_id: str) -> None:
        self._due.pop(source_id, None)

    def take(self, now: datetime) -> list[tuple[str, str, datetime]]:
        """(source id, host, due) for the polls to start now, earliest due first, within both bounds.
        The caller reports each as ``done`` when it ends."""
        limit = _ts(now)
        heads: list[tuple[float, str, str]] = []
        for host, heap in self._heaps.items():
            self._drop_stale(heap)
            if heap and heap[0][0] <= limit and self._running.get(host, 0) < self.capacity(host):
                heads.append((heap[0][0], heap[0][1], host))
        heapq.heapify(heads)
        out = []
        while heads and self.in_flight < self.total:
            when, source_id, host = heapq.heappop(heads)
            heap = self._heaps[host]
            heapq.heappop(heap)
            del self._due[source_id]
            self._running[host] = self._running.get(host, 0) + 1
            self.in_flight += 1
            out.append((source_id, host, datetime.fromtimestamp(when, UTC)))
            self._drop_stale(heap)
            if heap and heap[0][0] <= limit and self._running[host] < self.capacity(host):
                heapq.heappush(heads, (heap[0][0], heap[0][1], host))
        return out

    def done(self, source_id: str, host: str, next_due: datetime) -> None:
        self._running[host] -= 1
        self.in_flight -= 1
        self.set(source_id, host, next_due)

    def next_due(self) -> datetime | None:
        """The earliest due time among hosts that could start a poll (for a caller that wants to sleep)."""
        best = None
        for host, heap in self._heaps.items():
            self._drop_stale(heap)
            if heap and self._running.get(host, 0) < self.capacity(host) and (best is None or heap[0][0] < best):
                best = heap[0][0]
        return None if best is None else datetime.fromtimestamp(best, UTC)

    def _drop_stale(self, heap: list[tuple[float, str]]) -> None:
        while heap and self._due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
