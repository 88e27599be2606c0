"""Small durable state beside the queue: source polling schedule and health, account states,
the shared key-value (platform tokens, cached media ids, leases). Alerts: syndicator.store.alerts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock
from core.models import SourceHealth
from syndicator.store.db import as_datetime
from syndicator.store.group_commit import GroupCommit

_SOURCE_FIELDS = ("next_check_at", "consecutive_errors", "last_error", "last_error_at", "last_success_at",
                  "failing_since", "etag", "last_modified", "body_hash", "items_seen",
                  "polls", "last_listed", "ever_listed", "empty_since", "empty_reason")


def _row_to_health(row: dict[str, Any]) -> SourceHealth:
    return SourceHealth(
        source_id=row["source_id"], next_check_at=as_datetime(row["next_check_at"]),
        consecutive_errors=row["consecutive_errors"], last_error=row["last_error"],
        last_error_at=as_datetime(row["last_error_at"]), last_success_at=as_datetime(row["last_success_at"]),
        failing_since=as_datetime(row["failing_since"]), etag=row["etag"], last_modified=row["last_modified"],
        body_hash=row["body_hash"], items_seen=row["items_seen"],
        polls=row["polls"], last_listed=row["last_listed"], ever_listed=bool(row["ever_listed"]),
        empty_since=as_datetime(row["empty_since"]), empty_reason=row["empty_reason"],
        extra={"alerted": "1" if row["alerted"] else ""},
    )


class StateMixin:
    db: Any

    # ------------------------------------------------------------ sources
    async def source_health(self, source_id: str) -> SourceHealth:
        row = await self.db.fetchrow("SELECT * FROM sources WHERE source_id = ?", source_id)
        return _row_to_health(row) if row else SourceHealth(source_id)

    async def due_source_health(self, source_ids: list[str], now: datetime) -> list[SourceHealth]:
        """Health of those of these sources due for a poll (the watcher asks every tick, so: two cheap
        queries, not one per source); a source never polled before is due and starts fresh."""
        if not source_ids:
            return []
        later = {r["source_id"] for r in await self.db.fetch(
            "SELECT source_id FROM sources WHERE next_check_at > ?", now)}
        wanted = [sid for sid in source_ids if sid not in later]
        if not wanted:
            return []
        due = {r["source_id"]: _row_to_health(r) for r in await self.db.fetch(
            "SELECT * FROM sources WHERE next_check_at IS NULL OR next_check_at <= ?", now)}
        return [due.get(sid) or SourceHealth(sid) for sid in wanted]

    async def source_schedule(self) -> dict[str, datetime | None]:
        """Every source's next check (the watcher's schedule index is built from this, once)."""
        rows = await self.db.fetch("SELECT source_id, next_check_at FROM sources")
        return {r["source_id"]: as_datetime(r["next_check_at"]) for r in rows}

    async def save_source_health(self, h: SourceHealth) -> None:
        values = [getattr(h, f) for f in _SOURCE_FIELDS]
        cols = ", ".join(_SOURCE_FIELDS)
        updates = ", ".join(f"{f} = excluded.{f}" for f in (*_SOURCE_FIELDS, "alerted"))
        await self.db.execute(
            f"INSERT INTO sources (source_id, {cols}, alerted) VALUES (?, {', '.join('?' * len(values))}, ?)"
            f" ON CONFLICT (source_id) DO UPDATE SET {updates}",
            h.source_id, *values, bool(h.extra.get("alerted")))

    async def all_source_health(self) -> list[SourceHealth]:
        rows = await self.db.fetch("SELECT * FROM sources ORDER BY source_id")
        return [_row_to_health(r) for r in rows]

    # ------------------------------------------------------------ accounts
    async def account_states(self) -> dict[str, tuple[str, str | None]]:
        rows = await self.db.fetch("SELECT account_id, state, reason FROM accounts")
        return {r["account_id"]: (r["state"], r["reason"]) for r in rows}

    async def set_account_state(self, account_id: str, state: str, reason: str | None, now: datetime) -> None:
        """state: active | paused (by a person) | needs_reauth (credentials rejected) | platform_hold (the platform
        restricts the account: IP confirmation, frozen, banned)."""
        await self.db.execute(
            "INSERT INTO accounts (account_id, state, reason, changed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,"
            " changed_at = excluded.changed_at", account_id, state, reason, now)


class StoreKeyValue:
    """The channels' KeyValue (see channels.base) over the store's kv table."""

    def __init__(self, db: Any, clock: Clock, commits: GroupCommit) -> None:
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
