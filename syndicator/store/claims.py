"""Claims: take due deliveries earliest-deadline-first, keep a claim fresh, give claims back, recover a dead hub's.

Claiming is an UPDATE guarded by the expected state, so several hub processes sharing one
PostgreSQL database never send the same delivery twice: the loser of a race simply gets fewer rows.
Every claim (and every takeover) raises the delivery's ``claim_gen``; with the holder that is the claim's
fencing token, and an outcome written under a token that no longer stands is dropped and logged, never
applied (a hub paused past the stale window must not overwrite what the hub that took over recorded;
``syndicator.store.outcomes``). Each claim's attempt row is addressed by its own id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import Delivery, DeliveryState
from syndicator.store.base import FENCED, StoreBase, marks, required_time, row_to_delivery
from syndicator.store.db import Executor, Row

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Capacity:
    """Which accounts may take how many new claims now (the dispatcher's view, cheap to build)."""

    room: Callable[[str], int]               # sends this account may start now
    closed: frozenset[str] = frozenset()     # accounts known to have no room: excluded in SQL
    only: frozenset[str] | None = None       # claim for these accounts alone (None: any account)

    @classmethod
    def of(cls, per_account: Mapping[str, int]) -> Capacity:
        return cls(room=lambda a: per_account.get(a, 0),
                   only=frozenset(a for a, n in per_account.items() if n > 0))


class ClaimsMixin(StoreBase):
    async def claim_due(self, now: datetime, holder: str, capacity: Capacity | Mapping[str, int],
                        limit: int) -> list[Delivery]:
        """Claim up to ``limit`` due deliveries earliest-deadline-first, at most ``capacity.room(account)``
        per account (a mapping means: only these accounts, this many each).

        The cost follows the candidates, not the number of accounts (a province has tens of thousands):
        accounts known to have no room are excluded in SQL as one list parameter, the rest are budgeted here.
        """
        cap = capacity if isinstance(capacity, Capacity) else Capacity.of(capacity)
        closed = set(cap.closed)
        budget: dict[str, int] = {}
        claimed: list[Row] = []
        # Several passes: accounts filled in one pass are excluded from the next, so an account with many
        # due deliveries cannot starve the others behind it; under PostgreSQL another hub may win some
        # candidates (its UPDATE commits first; ours then skips those rows by the state guard).
        for _ in range(4):
            want = limit - len(claimed)
            if want <= 0 or (cap.only is not None and not cap.only - closed):
                break
            window = max(4 * want, 64)
            where, args = [], []
            if cap.only is not None:
                where.append(self.db.in_list("account_id"))
                args.append(self.db.list_arg(sorted(cap.only - closed)))
            if closed:
                where.append(self.db.in_list("account_id", negate=True))
                args.append(self.db.list_arg(sorted(closed)))
            # The partial index deliveries_open_due holds the open rows in claim order: the scan stops after
            # the window instead of sorting every open delivery (the state literals let planners match it).
            candidates = await self.db.fetch(
                f"SELECT id, account_id FROM {self.db.using_index('deliveries', 'deliveries_open_due')}"
                " WHERE state IN ('pending', 'retrying')"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
                + "".join(f" AND {w}" for w in where) + " ORDER BY deadline_at, id LIMIT ?",
                now, *args, window)
            chosen: list[int] = []
            for row in candidates:
                account = row["account_id"]
                left = budget[account] if account in budget else cap.room(account)
                if left <= 0:
                    closed.add(account)
                    continue
                budget[account] = left - 1
                if left == 1:
                    closed.add(account)
                chosen.append(row["id"])
                if len(chosen) == want:
                    break
            if chosen:
                claimed.extend(await self._claim_rows(chosen, holder, now))
            if len(candidates) < window:
                break
        return sorted((row_to_delivery(r) for r in claimed), key=lambda d: (d.deadline_at, d.id or 0))

    async def _claim_rows(self, ids: list[int], holder: str, now: datetime) -> list[Row]:
        in_ids = marks(ids)      # at most one claim's worth (hub.workers)
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE deliveries SET state = 'sending', claimed_by = ?, claimed_at = ?, attempts = attempts + 1,"
                " claim_gen = claim_gen + 1,"
                f" updated_at = ? WHERE id IN ({in_ids}) AND state IN ('pending', 'retrying') RETURNING *",
                holder, now, now, *ids)
            if not rows:
                return rows
            # One multi-row insert that hands back each attempt's id: outcomes address their attempt by it.
            made = await tx.fetch(
                "INSERT INTO attempts (delivery_id, holder, started_at) VALUES "
                + ",".join(["(?, ?, ?)"] * len(rows)) + " RETURNING id, delivery_id",
                *(v for r in rows for v in (r["id"], holder, now)))
        attempt_of = {a["delivery_id"]: a["id"] for a in made}
        return [{**r, "attempt_id": attempt_of[r["id"]]} for r in rows]

    async def claim_confirmations(self, now: datetime, holder: str, limit: int,
                                  lease_until: datetime | None = None) -> list[Delivery]:
        """Deliveries whose platform outcome is due to be asked for (``confirming``).

        The claim only moves ``next_attempt_at`` to ``lease_until``: if this process dies while asking,
        another (or the restarted) hub asks again after that; no confirmation is ever forgotten.
        """
        lease_until = lease_until or now + timedelta(minutes=5)
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "SELECT id FROM deliveries WHERE state = 'confirming' AND next_attempt_at <= ?"
                " ORDER BY deadline_at, id LIMIT ?", now, limit)
            if not rows:
                return []
            ids = [r["id"] for r in rows]
            claimed = await tx.fetch(
                f"UPDATE deliveries SET claimed_by = ?, claimed_at = ?, next_attempt_at = ?, updated_at = ?,"
                f" claim_gen = claim_gen + 1 WHERE id IN ({marks(ids)}) AND state = 'confirming' RETURNING *",
                holder, now, lease_until, now, *ids)
            accepted = await self._accepted_attempts(tx, [r["id"] for r in claimed])
        return [row_to_delivery({**r, "attempt_id": accepted.get(r["id"])}) for r in claimed]

    async def claim_confirmation(self, account_id: str, external_id: str, now: datetime, holder: str,
                                 lease_until: datetime) -> Delivery | None:
        """Claim one ``confirming`` delivery to ask its outcome now (a platform hinted it is ready); None when
        there is none or a hub is already asking (claimed_by is cleared whenever a check ends). The claim is
        fenced like any other: a later outcome write must still hold it."""
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE deliveries SET claimed_by = ?, claimed_at = ?, next_attempt_at = ?, updated_at = ?,"
                " claim_gen = claim_gen + 1 WHERE account_id = ? AND external_id = ? AND state = 'confirming'"
                " AND claimed_by IS NULL RETURNING *", holder, now, lease_until, now, account_id, external_id)
            if row is None:
                return None
            accepted = await self._accepted_attempts(tx, [row["id"]])
        return row_to_delivery({**row, "attempt_id": accepted.get(row["id"])})

    @staticmethod
    async def _accepted_attempts(tx: Executor, ids: list[int]) -> dict[int, int]:
        """The attempt each ``confirming`` delivery is waiting on (the one that recorded 'accepted' last)."""
        if not ids:
            return {}
        rows = await tx.fetch(
            f"SELECT id, delivery_id FROM attempts WHERE delivery_id IN ({marks(ids)})"
            " AND outcome = 'accepted' ORDER BY id", *ids)
        return {r["delivery_id"]: r["id"] for r in rows}

    async def renew_claim(self, d: Delivery, now: datetime) -> bool:
        """Still ours? Then the claim is fresh again (claimed_at = now). False: it was taken over meanwhile."""
        changed = await self.db.execute(
            "UPDATE deliveries SET claimed_at = ?" + FENCED + " AND state = 'sending'",
            now, d.id, d.claim_gen, d.claimed_by or "")
        return changed > 0

    async def release(self, deliveries: Iterable[Delivery | int], now: datetime) -> None:
        """Give claimed-but-unsent deliveries back to the queue (shutdown); the attempt did not happen.
        A claim (``Delivery``) is given back only while it still stands: a taken-over one is not ours to give."""
        items = list(deliveries)
        ids = [d for d in items if isinstance(d, int)]
        claims = [d for d in items if not isinstance(d, int) and d.state is DeliveryState.SENDING]
        back = ("UPDATE deliveries SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'pending' END,"
                " attempts = attempts - 1, claimed_by = NULL, updated_at = ?")
        async with self.db.transaction() as tx:
            if ids:
                in_ids = marks(ids)
                await tx.execute(f"{back} WHERE id IN ({in_ids}) AND state = 'sending'", now, *ids)
                await tx.execute(f"DELETE FROM attempts WHERE finished_at IS NULL AND delivery_id IN ({in_ids})", *ids)
            for d in claims:
                if await tx.execute(back + FENCED + " AND state = 'sending'",
                                    now, d.id, d.claim_gen, d.claimed_by or ""):
                    await tx.execute("DELETE FROM attempts WHERE id = ? AND finished_at IS NULL", d.attempt_id)
                else:
                    log.warning("fenced: delivery %s not given back, its claim was taken over", d.id)

    async def release_unknown_claims(self, holder: str, claimed_at: datetime, keep: Iterable[int],
                                     now: datetime) -> list[int]:
        """A claim whose answer was lost (the connection dropped around its commit) may have claimed rows this
        hub never heard of: give back those still ``sending`` under ``holder`` from that claim and not being
        sent (``keep``). Nothing was sent for them, so they are not ambiguous."""
        keep = set(keep)
        async with self.db.transaction() as tx:
            rows = await tx.fetch("SELECT id FROM deliveries WHERE state = 'sending' AND claimed_by = ?"
                                  " AND claimed_at = ?", holder, claimed_at)
            lost = [r["id"] for r in rows if r["id"] not in keep]
            if lost:
                in_lost = marks(lost)
                await tx.execute(
                    "UPDATE deliveries SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'pending' END,"
                    " attempts = attempts - 1, claimed_by = NULL, claim_gen = claim_gen + 1, updated_at = ?"
                    f" WHERE id IN ({in_lost}) AND state = 'sending' AND claimed_by = ?", now, *lost, holder)
                await tx.execute(f"DELETE FROM attempts WHERE finished_at IS NULL AND delivery_id IN ({in_lost})",
                                 *lost)
        return lost

    async def recover_orphans(self, holder: str, stale_before: datetime, now: datetime) -> int:
        """'sending' rows left by a dead process (ours from before a restart, anyone's gone stale, or a hub's
        whose heartbeat expired) go back to the queue marked ambiguous: the next attempt reconciles with the
        platform first. The claim generation moves on, so the old holder's late writes are fenced off."""
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE deliveries SET state = 'retrying', ambiguous = TRUE, next_attempt_at = ?, claimed_by = NULL,"
                " claim_gen = claim_gen + 1, last_error = ?, updated_at = ? WHERE state = 'sending'"
                " AND (claimed_by = ? OR claimed_at < ?"
                " OR claimed_by IN (SELECT instance_id FROM hubs WHERE expires_at < ?))",
                now, "进程中断时正在发送，结果待核实", now, holder, stale_before, now)
            await tx.execute(
                "UPDATE attempts SET finished_at = ?, outcome = 'interrupted' WHERE finished_at IS NULL"
                " AND delivery_id IN (SELECT id FROM deliveries WHERE state = 'retrying' AND ambiguous = TRUE)", now)
        return changed

    async def recent_attempts(self, since: datetime) -> list[tuple[int, str, datetime]]:
        """(attempt id, account, start time) of every attempt since then: seeds the hourly rate limits."""
        rows = await self.db.fetch(
            "SELECT a.id, d.account_id, a.started_at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE a.started_at >= ?", since)
        return [(r["id"], r["account_id"], required_time(r["started_at"])) for r in rows]

    async def max_attempt_id(self) -> int:
        row = await self.db.fetchrow("SELECT MAX(id) AS m FROM attempts")
        return int(row["m"] or 0) if row else 0

    async def attempts_after(self, after_id: int, exclude_holder: str) -> list[tuple[int, str, datetime]]:
        """Attempts other hubs started since attempt ``after_id`` (a primary-key range: cheap at any table size)."""
        rows = await self.db.fetch(
            "SELECT a.id, d.account_id, a.started_at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE a.id > ? AND a.holder <> ? ORDER BY a.id", after_id, exclude_holder)
        return [(r["id"], r["account_id"], required_time(r["started_at"])) for r in rows]
