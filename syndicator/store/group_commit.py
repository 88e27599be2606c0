"""Group commit for delivery outcomes: writes that arrive while one commit runs share the next one.

A fan-out of 40,000 deliveries records 40,000 outcomes. One transaction each makes the store the
bottleneck (SQLite has a single writer, and every statement is a hop to its thread). Here each
writer still waits until its own outcome is durable — at-least-once semantics are unchanged, a
crash before the commit leaves the delivery ``sending`` and recovery reconciles it — but all the
outcomes queued meanwhile go in one transaction, one ``executemany`` per statement shape.

An outcome may carry a fence (delivery id, holder, claim generation): it is applied only while that claim
still stands. One locking read per commit tells which fences hold (the rows stay locked until the commit, so
the answer cannot go stale), and each fenced statement repeats the condition in its own WHERE.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from syndicator.store.db import Database

log = logging.getLogger(__name__)
Statement = tuple[str, Sequence[Any]]
Fence = tuple[int, str, int]        # delivery id, holder, claim generation
_Entry = tuple[list[Statement], "asyncio.Future[bool]", Fence | None]


class GroupCommit:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[_Entry] = []
        self._lock = asyncio.Lock()
        self.commits = 0          # transactions run (for tests and benchmarks)

    async def run(self, statements: list[Statement], fence: Fence | None = None) -> bool:
        """Apply these statements atomically, together with whatever else is queued; return once durable.
        With a ``fence``: False, and nothing applied, when that claim no longer stands."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        entry: _Entry = (statements, future, fence)
        self._queue.append(entry)
        try:
            async with self._lock:
                # The first waiter to get the lock commits everything queued so far; the others find theirs done.
                if not future.done():
                    batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                    # Shielded: a leader cancelled mid-commit must not leave the others' outcomes unsettled.
                    await asyncio.shield(self._commit(batch))
        except asyncio.CancelledError:
            # Not taken by any commit yet: withdrawn, exactly as if this writer had never started.
            self._queue = [e for e in self._queue if e is not entry]
            raise
        return await future

    async def _commit(self, batch: list[_Entry]) -> None:
        try:
            applied = await self._apply(batch)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # One bad outcome must not fail the others: apply each on its own, so only it sees the error.
            log.warning("group commit of %d outcomes failed (%s); applying them one by one", len(batch), exc)
            for entry in batch:
                try:
                    (one,) = await self._apply([entry])
                except Exception as single:
                    _settle(entry[1], single)
                else:
                    _settle(entry[1], one)
        else:
            for (_statements, future, _fence), ok in zip(batch, applied, strict=True):
                _settle(future, ok)

    async def _apply(self, batch: list[_Entry]) -> list[bool]:
        async with self.db.transaction() as tx:
            holding = await self._holding(tx, [fence for _s, _f, fence in batch if fence is not None])
            applied = [fence is None or fence in holding for _s, _f, fence in batch]
            # Same-shaped statements of different deliveries are independent; grouping keeps each shape's order.
            by_sql: defaultdict[str, list[Sequence[Any]]] = defaultdict(list)
            for (statements, _f, _fence), ok in zip(batch, applied, strict=True):
                for sql, args in statements if ok else ():
                    by_sql[sql].append(args)
            for sql, rows in by_sql.items():
                if len(rows) == 1:
                    await tx.execute(sql, *rows[0])
                else:
                    await tx.executemany(sql, rows)
        self.commits += 1
        return applied

    async def _holding(self, tx: Any, fences: list[Fence]) -> set[Fence]:
        """Which of these claims still stand; their rows stay locked (PostgreSQL) until this commit."""
        if not fences:
            return set()
        marks = ",".join("?" * len(fences))
        lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""     # SQLite: BEGIN IMMEDIATE, one writer
        rows = await tx.fetch(
            f"SELECT id, claimed_by, claim_gen FROM deliveries WHERE id IN ({marks}) ORDER BY id{lock}",
            *(f[0] for f in fences))
        current = {(r["id"], r["claimed_by"] or "", r["claim_gen"]) for r in rows}
        return {f for f in fences if f in current}


def _settle(future: asyncio.Future[bool], result: bool | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
