"""A thin async database adapter so one Store serves SQLite and PostgreSQL.

SQL is written once with ``?`` placeholders; the PostgreSQL adapter numbers them (``$1``…).
Datetimes go in as aware datetimes: SQLite keeps them as fixed-width UTC text (sortable),
PostgreSQL as timestamptz. Rows come back as dicts; ``as_datetime`` reads either form.

A dropped connection fails the statement that met it (the caller's loop retries the unit of work; a
transaction cut short is rolled back by the server) and is replaced on the next use: the asyncpg pool
discards a closed connection when it is released, the SQLite adapter reopens its file.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
Row = dict[str, Any]


@functools.lru_cache(maxsize=256)
def to_db_time(value: datetime) -> str:
    # Memoised: a batch of outcomes repeats the same few instants (its "now", one item's deadline).
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return value.astimezone(UTC).strftime(_TS_FORMAT)


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with ``\\``, ``%`` and ``_`` taken literally; use it with
    ``LIKE ? ESCAPE '\\'`` (both dialects)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    # fromisoformat reads our fixed-width "…Z" form exactly, ~25x faster than strptime (every row has several)
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class Executor(abc.ABC):
    """What a transaction (or the database outside one) can run."""

    @abc.abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    @abc.abstractmethod
    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return the number of rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchone(self, sql: str, *args: Any) -> Row:
        """The row of a statement that always yields one (an aggregate, a row known to exist)."""
        row = await self.fetchrow(sql, *args)
        if row is None:
            raise LookupError(f"no row from: {sql[:80]}")
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return next(iter(row.values())) if row else None


class Database(Executor):
    """A connection (pool) that runs statements on its own, each in a transaction of its own, or several in one."""

    dialect: str

    @abc.abstractmethod
    def in_list(self, column: str, *, negate: bool = False) -> str:
        """SQL testing ``column`` against a list bound as ONE parameter (see ``list_arg``): a claim may name
        tens of thousands of accounts, more than either driver takes as separate arguments."""

    @abc.abstractmethod
    def list_arg(self, values: Sequence[str]) -> Any:
        """The parameter value for ``in_list``."""

    def using_index(self, table: str, index: str) -> str:
        """``table`` for a FROM clause, telling planners that would otherwise sort to walk ``index``."""
        return table

    async def refresh_statistics(self, table: str) -> None:
        """After a bulk insert: let the planner see the table as it now is (a no-op where plans are pinned)."""

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """``async with db.transaction() as tx`` — all of it commits or none does."""


# ---------------------------------------------------------------- SQLite


def _sqlite_arg(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_db_time(value)
    if isinstance(value, bool):
        return int(value)
    return value


class _SqliteTx(Executor):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        # One trip to the connection's thread (execute + fetchall + close as separate awaits are three).
        return [dict(r) for r in await self.conn.execute_fetchall(sql, [_sqlite_arg(a) for a in args])]

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.conn.execute(sql, [_sqlite_arg(a) for a in args]) as cur:
            return cur.rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, [[_sqlite_arg(a) for a in r] for r in rows])


def _connection_lost(exc: BaseException) -> bool:
    """The SQLite connection itself is gone (closed under us, its thread ended, the file unusable)."""
    import sqlite3

    if isinstance(exc, ValueError) and ("no active connection" in str(exc) or "Connection closed" in str(exc)):
        return True
    if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("disk i/o" in text or "unable to open" in text)


class SqliteDatabase(Database):
    """One aiosqlite connection (its own thread); a lock keeps transactions whole. A connection found
    broken is closed and a new one opened on the next use."""

    dialect = "sqlite"

    def in_list(self, column: str, *, negate: bool = False) -> str:
        return f"{column} {'NOT IN' if negate else 'IN'} (SELECT value FROM json_each(?))"

    def list_arg(self, values: Sequence[str]) -> Any:
        return json.dumps(list(values))

    def using_index(self, table: str, index: str) -> str:
        # Without statistics SQLite picks (state, deadline_at) and sorts every open row for each claim.
        return f"{table} INDEXED BY {index}"

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: Any = None
        self._closed = False
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        import aiosqlite

        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._closed = False
        self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
            await self._conn.execute(f"PRAGMA {pragma}")

    async def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _live(self) -> Any:
        """The connection, reopened if the last one was found broken (call with the lock held)."""
        if self._conn is None:
            if self._closed:
                raise ValueError("no active connection: the store is closed")
            await self.connect()
        return self._conn

    async def _lost(self, exc: BaseException) -> None:
        if _connection_lost(exc) and self._conn is not None:
            log.error("SQLite connection lost (%s); reopening on the next use", exc)
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._lock:
            conn = await self._live()
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except Exception as exc:
                await self._lost(exc)
                raise
            try:
                yield _SqliteTx(conn)
            except BaseException as exc:
                try:
                    await conn.execute("ROLLBACK")
                except Exception as rollback:      # the connection died mid-transaction: nothing was committed
                    await self._lost(rollback)
                await self._lost(exc)
                raise
            try:
                await conn.execute("COMMIT")
            except Exception as exc:
                await self._lost(exc)
                raise

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._lock:
            try:
                return await _SqliteTx(await self._live()).fetch(sql, *args)
            except Exception as exc:
                await self._lost(exc)
                raise

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)


# ---------------------------------------------------------------- PostgreSQL

_PLACEHOLDER = re.compile(r"\?")


def _number_placeholders(sql: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


class _PgTx(Executor):
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self.conn.fetch(_number_placeholders(sql), *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status: str = await self.conn.execute(_number_placeholders(sql), *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(_number_placeholders(sql), rows)


class PostgresDatabase(Database):
    """An asyncpg pool; several hub processes may share the database."""

    dialect = "postgres"

    def in_list(self, column: str, *, negate: bool = False) -> str:
        return f"{'NOT ' if negate else ''}({column} = ANY(?::text[]))"

    def list_arg(self, values: Sequence[str]) -> Any:
        return list(values)

    async def refresh_statistics(self, table: str) -> None:
        if not table.isidentifier():
            raise ValueError(f"not a table name: {table!r}")
        async with self._pool.acquire() as conn:
            await conn.execute(f"ANALYZE {table}")

    def __init__(self, dsn: str, *, max_size: int = 10) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._pool: Any = None

    async def connect(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.max_size)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgTx(conn)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _PgTx(conn).fetch(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._pool.acquire() as conn:
            return await _PgTx(conn).execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)


def open_database(url: str) -> Database:
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url.removeprefix("sqlite:///") or ":memory:")
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url)
    raise ValueError(f"unsupported storage url {url.split('://')[0]}://…; use sqlite:/// or postgresql://")
