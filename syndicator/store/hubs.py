"""Hub heartbeats: each hub process keeps a row alive in ``hubs``; a row whose ``expires_at`` has passed
is a dead hub, and survivors take over its claims at once (``recover_orphans``) instead of waiting for
``stale_claim_seconds``. The row also carries that hub's loop health, so `status` run from another
process can say which loop of which hub is stuck.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from syndicator.store.base import StoreBase
from syndicator.store.db import as_datetime


class HubsMixin(StoreBase):
    async def beat(self, instance_id: str, now: datetime, expires_at: datetime, loops: dict[str, Any]) -> None:
        await self.db.execute(
            "INSERT INTO hubs (instance_id, started_at, heartbeat_at, expires_at, loops) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
            " expires_at = excluded.expires_at, loops = excluded.loops",
            instance_id, now, now, expires_at, json.dumps(loops, ensure_ascii=False, default=str))

    async def hub_started(self, instance_id: str, now: datetime, expires_at: datetime) -> None:
        """A (re)started hub: its previous life's heartbeat and loop health no longer apply."""
        await self.db.execute(
            "INSERT INTO hubs (instance_id, started_at, heartbeat_at, expires_at, loops) VALUES (?, ?, ?, ?, '{}')"
            " ON CONFLICT (instance_id) DO UPDATE SET started_at = excluded.started_at,"
            " heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, loops = '{}'",
            instance_id, now, now, expires_at)

    async def hub_stopped(self, instance_id: str) -> None:
        """A clean stop: nothing of ours is left claimed, and nobody should read us as dead."""
        await self.db.execute("DELETE FROM hubs WHERE instance_id = ?", instance_id)

    async def hubs(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT * FROM hubs ORDER BY instance_id")
        return [{"instance_id": r["instance_id"], "started_at": as_datetime(r["started_at"]),
                 "heartbeat_at": as_datetime(r["heartbeat_at"]), "expires_at": as_datetime(r["expires_at"]),
                 "loops": json.loads(r["loops"] or "{}")} for r in rows]

    async def ping(self) -> None:
        """One round trip: raises when the store cannot be reached."""
        await self.db.fetchval("SELECT 1 AS one")
