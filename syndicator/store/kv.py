"""The channels' KeyValue (tokens, cached media ids, nonces, leases) over the store's ``kv`` table."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.clock import Clock
from syndicator.store.db import Database, as_datetime
from syndicator.store.group_commit import GroupCommit


class StoreKeyValue:
    """The channels' KeyValue (see channels.base) over the store's kv table."""

    def __init__(self, db: Database, clock: Clock, commits: GroupCommit) -> None:
        self.db = db
        self.clock = clock
        self.commits = commits    # the store's: puts ride along with delivery outcomes (one per send)
        # key -> (read at, value, expires at): only keys read with max_age_s, so a handful
        self._recent: dict[str, tuple[datetime, str | None, datetime | None]] = {}

    async def get(self, key: str, max_age_s: float = 0) -> str | None:
        now = self.clock.now()
        recent = self._recent.get(key) if max_age_s > 0 else None
        if recent is not None and (now - recent[0]).total_seconds() < max_age_s:
            _read_at, value, expires = recent
        else:
            row = await self.db.fetchrow("SELECT value, expires_at FROM kv WHERE key = ?", key)
            value, expires = (row["value"], as_datetime(row["expires_at"])) if row else (None, None)
            if max_age_s > 0:
                self._recent[key] = (now, value, expires)
        if expires is not None and expires <= now:
            return None
        return value

    async def put(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        now = self.clock.now()
        expires = now + timedelta(seconds=ttl_seconds) if ttl_seconds else None
        await self.commits.run([(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            (key, value, expires))])
        if key in self._recent:           # our own write is seen at once
            self._recent[key] = (now, value, expires)

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool:
        """Insert ``key`` unless a live entry exists — one atomic statement, so of several hubs (or requests)
        adding the same key at once exactly one gets True (callback nonces and message ids)."""
        now = self.clock.now()
        changed = await self.db.execute(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
            " WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= ?",
            key, value, now + timedelta(seconds=ttl_seconds), now)
        return changed > 0

    async def purge(self, prefix: str) -> int:
        """Delete expired entries whose key starts with ``prefix``; return how many."""
        return await self.db.execute("DELETE FROM kv WHERE expires_at <= ? AND substr(key, 1, ?) = ?",
                                     self.clock.now(), len(prefix), prefix)

    async def lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take the lease if free, expired or already ours — atomically, across processes."""
        now = self.clock.now()
        key = f"lease:{name}"
        expires = now + timedelta(seconds=ttl_seconds)
        changed = await self.db.execute(
            "INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at"
            " WHERE kv.value = excluded.value OR kv.expires_at IS NULL OR kv.expires_at <= ?",
            key, holder, expires, now)
        return changed > 0

    async def release(self, name: str, holder: str) -> None:
        await self.db.execute("DELETE FROM kv WHERE key = ? AND value = ?", f"lease:{name}", holder)
