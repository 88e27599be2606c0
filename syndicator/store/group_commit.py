"""Group commit for delivery outcomes: writes that arrive while one commit runs share the next one.

A fan-out of 40,000 deliveries records 40,000 outcomes. One transaction each makes the store the
bottleneck (SQLite has a single writer, and every statement is a hop to its thread). Here each
writer still waits until its own outcome is durable — at-least-once semantics are unchanged, a
crash before the commit leaves the delivery ``sending`` and recovery reconciles it — but all the
outcomes queued meanwhile go in one transaction, one ``executemany`` per statement shape.
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


class GroupCommit:
    def __init__(self, db: Database, max_batch: int = 500) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: list[tuple[list[Statement], asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()
        self.commits = 0          # transactions run (for tests and benchmarks)

    async def run(self, statements: list[Statement]) -> None:
        """Apply these statements atomically, together with whatever else is queued; return once durable."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (statements, future)
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
        await future

    async def _commit(self, batch: list[tuple[list[Statement], asyncio.Future[None]]]) -> None:
        try:
            await self._apply([s for statements, _f in batch for s in statements])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            # One bad outcome must not fail the others: apply each on its own, so only it sees the error.
            log.warning("group commit of %d outcomes failed (%s); applying them one by one", len(batch), exc)
            for statements, future in batch:
                try:
                    await self._apply(statements)
                except Exception as single:
                    _settle(future, single)
                else:
                    _settle(future, None)
        else:
            for _statements, future in batch:
                _settle(future, None)

    async def _apply(self, statements: list[Statement]) -> None:
        # Same-shaped statements of different deliveries are independent; grouping keeps each shape's order.
        by_sql: defaultdict[str, list[Sequence[Any]]] = defaultdict(list)
        for sql, args in statements:
            by_sql[sql].append(args)
        async with self.db.transaction() as tx:
            for sql, rows in by_sql.items():
                if len(rows) == 1:
                    await tx.execute(sql, *rows[0])
                else:
                    await tx.executemany(sql, rows)
        self.commits += 1


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
