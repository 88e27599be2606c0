"""Store outages on demand, for both dialects.

PostgreSQL: the hub connects through a TCP proxy. ``drop`` ends the hub's backends on the server
(``pg_terminate_backend``, as a restart or fail-over does); ``down`` also refuses new connections and cuts
the open ones until ``up``. SQLite: ``drop`` closes the hub's connection under it; ``down`` makes reopening
the file fail (as an unmounted or unreadable volume does) until ``up``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.accepting = True
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None
        self.listen_port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def upstream_ports(self) -> list[int]:
        """Our side's ports of the connections to the server: ``pg_stat_activity.client_port`` of the hub's backends."""
        return [up.get_extra_info("sockname")[1] for _c, up in self._pairs]

    def cut(self) -> None:
        for client, upstream in list(self._pairs):
            client.transport.abort()
            upstream.transport.abort()
        self._pairs.clear()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)
            for w in pair:
                w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


class PgOutage:
    def __init__(self, pg_url: str) -> None:
        parts = urlsplit(pg_url)
        self.server_url = pg_url
        self.proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
        self._parts = parts

    async def __aenter__(self) -> PgOutage:
        await self.proxy.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.proxy.close()

    @property
    def url(self) -> str:
        p = self._parts
        netloc = p.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.proxy.listen_port}"
        return urlunsplit((p.scheme, f"{netloc[0]}@{host}" if len(netloc) == 2 else host, p.path, p.query, ""))

    async def drop(self, store: Any) -> int:
        """Terminate the hub's backends on the server; return how many."""
        import asyncpg

        ports = self.proxy.upstream_ports()
        conn = await asyncpg.connect(self.server_url)
        try:
            rows = await conn.fetch("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity"
                                    " WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()", ports)
        finally:
            await conn.close()
        return len(rows)

    async def down(self, store: Any) -> None:
        self.proxy.accepting = False
        self.proxy.cut()

    async def up(self, store: Any) -> None:
        self.proxy.accepting = True


class SqliteOutage:
    def __init__(self) -> None:
        self._down = False

    async def drop(self, store: Any) -> int:
        db = store.db
        for _ in range(40):         # the previous drop's connection may not be reopened yet
            if db._conn is not None or self._down:
                break
            await asyncio.sleep(0.05)
        conn = db._conn
        if conn is None:
            return 0
        await conn.close()          # under the adapter: whatever it runs next meets a closed connection
        return 1

    async def down(self, store: Any) -> None:
        db = store.db
        real = type(db).connect

        async def unreachable() -> None:
            if self._down:
                raise sqlite3.OperationalError("unable to open database file (simulated outage)")
            await real(db)

        self._down = True
        db.connect = unreachable
        await self.drop(store)

    async def up(self, store: Any) -> None:
        self._down = False
