"""The fan-out queue: claim due deliveries earliest-deadline-first, record every outcome.

Claiming is an UPDATE guarded by the expected state, so several hub processes sharing one
PostgreSQL database never send the same delivery twice: the loser of a race simply gets fewer rows.
Every claim (and every takeover) raises the delivery's ``claim_gen``; with the holder that is the claim's
fencing token, and an outcome written under a token that no longer stands is dropped and logged, never
applied (a hub paused past the stale window must not overwrite what the hub that took over recorded).
Each claim's attempt row is addressed by its own id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.models import BODY_HOLD_PREFIX, Delivery, DeliveryState
from syndicator.store.db import Row, as_datetime, contains_pattern
from syndicator.store.group_commit import GroupCommit, Statement

log = logging.getLogger(__name__)
# The fencing condition, in the same statement as each outcome write (args: id, claim_gen, holder).
_FENCED = " WHERE id = ? AND claim_gen = ? AND COALESCE(claimed_by, '') = ?"


def row_to_delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"], item_id=row["item_id"], unit_id=row["unit_id"], account_id=row["account_id"],
        channel_kind=row["channel_kind"], deadline_at=as_datetime(row["deadline_at"]),  # type: ignore[arg-type]
        idempotency_key=row["idempotency_key"], state=DeliveryState(row["state"]),
        deadline_provisional=bool(row["deadline_provisional"]), attempts=row["attempts"],
        next_attempt_at=as_datetime(row["next_attempt_at"]), delivered_at=as_datetime(row["delivered_at"]),
        external_id=row["external_id"], external_url=row["external_url"], last_error=row["last_error"],
        note=row["note"], possible_duplicate=bool(row["possible_duplicate"]), ambiguous=bool(row["ambiguous"]),
        claimed_by=row["claimed_by"], claim_gen=row.get("claim_gen", 0), attempt_id=row.get("attempt_id"),
        claimed_at=as_datetime(row.get("claimed_at")), verify_state=row.get("verify_state"),
    )


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


class QueueMixin:
    db: Any
    outcomes: GroupCommit

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
        marks = ",".join("?" * len(ids))      # at most one claim's worth (hub.workers)
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE deliveries SET state = 'sending', claimed_by = ?, claimed_at = ?, attempts = attempts + 1,"
                " claim_gen = claim_gen + 1,"
                f" updated_at = ? WHERE id IN ({marks}) AND state IN ('pending', 'retrying') RETURNING *",
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
            marks = ",".join("?" * len(ids))
            claimed = await tx.fetch(
                f"UPDATE deliveries SET claimed_by = ?, claimed_at = ?, next_attempt_at = ?, updated_at = ?,"
                f" claim_gen = claim_gen + 1 WHERE id IN ({marks}) AND state = 'confirming' RETURNING *",
                holder, now, lease_until, now, *ids)
            accepted = await self._accepted_attempts(tx, [r["id"] for r in claimed])
        return [row_to_delivery({**r, "attempt_id": accepted.get(r["id"])}) for r in claimed]

    async def claim_confirmation(self, account_id: str, external_id: str, now: datetime, holder: str,
                                 lease_until: datetime) -> Delivery | None:
        """Claim one ``confirming`` delivery to ask its outcome now (a platform hinted it is ready); None when
        there is none or a hub is already asking (claimed_by is cleared whenever a check ends). The claim is
        fenced like any other: a later outcome write must still hold it."""
        async with self.db.transaction() as tx:  # type: ignore[attr-defined]
            row = await tx.fetchrow(
                "UPDATE deliveries SET claimed_by = ?, claimed_at = ?, next_attempt_at = ?, updated_at = ?,"
                " claim_gen = claim_gen + 1 WHERE account_id = ? AND external_id = ? AND state = 'confirming'"
                " AND claimed_by IS NULL RETURNING *", holder, now, lease_until, now, account_id, external_id)
            if row is None:
                return None
            accepted = await self._accepted_attempts(tx, [row["id"]])
        return row_to_delivery({**row, "attempt_id": accepted.get(row["id"])})

    @staticmethod
    async def _accepted_attempts(tx: Any, ids: list[int]) -> dict[int, int]:
        """The attempt each ``confirming`` delivery is waiting on (the one that recorded 'accepted' last)."""
        if not ids:
            return {}
        rows = await tx.fetch(
            f"SELECT id, delivery_id FROM attempts WHERE delivery_id IN ({','.join('?' * len(ids))})"
            " AND outcome = 'accepted' ORDER BY id", *ids)
        return {r["delivery_id"]: r["id"] for r in rows}

    async def _finish(self, target: Delivery | int, outcome: str, detail: str | None, now: datetime,
                      sql: str, *args: Any, extra: Sequence[Statement] = ()) -> bool:
        """Record an attempt's outcome; outcomes finishing together share one transaction (group commit).
        ``extra`` (e.g. the platform's receipt, store.evidence) is written in the same transaction.

        A ``Delivery`` (the dispatcher's claim) is written fenced: only while its claim still stands, and its own
        attempt by id; returns False, having written nothing, when the claim was lost. A bare id is an unfenced
        write (tools and tests setting up rows) on the delivery's latest attempt.
        """
        if isinstance(target, int):
            return await self.outcomes.run([
                (sql + " WHERE id = ?", (*args, target)),
                ("UPDATE attempts SET finished_at = ?, outcome = ?, detail = ? WHERE id ="
                 " (SELECT MAX(id) FROM attempts WHERE delivery_id = ?)", (now, outcome, detail, target)),
                *extra,
            ])
        assert target.id is not None
        fence = (target.id, target.claimed_by or "", target.claim_gen)
        statements = [(sql + _FENCED, (*args, target.id, target.claim_gen, fence[1]))]
        if target.attempt_id is not None:
            statements.append(("UPDATE attempts SET finished_at = ?, outcome = ?, detail = ? WHERE id = ?",
                               (now, outcome, detail, target.attempt_id)))
        statements += extra
        if await self.outcomes.run(statements, fence):
            return True
        log.warning("fenced: outcome %r of delivery %s dropped, claim %s/%d no longer held (taken over)",
                    outcome, target.id, fence[1] or "-", target.claim_gen)
        return False

    async def mark_delivered(self, target: Delivery | int, now: datetime, external_id: str | None,
                             url: str | None, note: str | None = None, possible_duplicate: bool = False,
                             extra: Sequence[Statement] = ()) -> bool:
        return await self._finish(
            target, "delivered", note, now,
            "UPDATE deliveries SET state = 'delivered', delivered_at = ?, external_id = ?, external_url = ?,"
            " note = COALESCE(?, note), possible_duplicate = (possible_duplicate OR ?), last_error = NULL,"
            " ambiguous = FALSE,"
            # due for live verification now (syndicator.verify): sent is not yet seen by the public
            " verify_state = 'pending', verify_next_at = ?, verify_attempts = 0, verified_at = NULL,"
            " next_attempt_at = NULL, claimed_by = NULL, updated_at = ?",
            now, external_id, url, note, possible_duplicate, now, now, extra=extra)

    async def mark_confirming(self, target: Delivery | int, now: datetime, external_id: str,
                              check_at: datetime, note: str | None = None, *, possible_duplicate: bool = False,
                              extra: Sequence[Statement] = ()) -> bool:
        """Accepted, outcome pending; ``possible_duplicate`` is kept so the final delivery still carries it."""
        return await self._finish(
            target, "accepted", f"awaiting outcome of {external_id}", now,
            "UPDATE deliveries SET state = 'confirming', external_id = ?, next_attempt_at = ?, claimed_by = NULL,"
            " note = COALESCE(?, note), possible_duplicate = (possible_duplicate OR ?), ambiguous = FALSE,"
            " updated_at = ?", external_id, check_at, note, possible_duplicate, now, extra=extra)

    async def mark_retry(self, target: Delivery | int, now: datetime, reason: str, next_attempt_at: datetime,
                         *, ambiguous: bool = False, note: str | None = None) -> bool:
        """Try again later; ``ambiguous`` when the platform may have received this attempt."""
        return await self._finish(
            target, "retry", reason, now,
            "UPDATE deliveries SET state = 'retrying', last_error = ?, next_attempt_at = ?, claimed_by = NULL,"
            " ambiguous = ?, note = COALESCE(?, note), updated_at = ?",
            reason, next_attempt_at, ambiguous, note, now)

    async def mark_failed(self, target: Delivery | int, now: datetime, reason: str) -> bool:
        return await self._finish(
            target, "failed", reason, now,
            "UPDATE deliveries SET state = 'failed', last_error = ?, next_attempt_at = NULL, claimed_by = NULL,"
            " updated_at = ?", reason, now)

    async def mark_held(self, target: Delivery | int, now: datetime, reason: str) -> bool:
        return await self._finish(
            target, "held", reason, now,
            "UPDATE deliveries SET state = 'held', last_error = ?, next_attempt_at = NULL, claimed_by = NULL,"
            " updated_at = ?", reason, now)

    async def renew_claim(self, d: Delivery, now: datetime) -> bool:
        """Still ours? Then the claim is fresh again (claimed_at = now). False: it was taken over meanwhile."""
        changed = await self.db.execute(
            "UPDATE deliveries SET claimed_at = ?" + _FENCED + " AND state = 'sending'",
            now, d.id, d.claim_gen, d.claimed_by or "")
        return changed > 0

    async def hold_account(self, account_id: str, now: datetime, reason: str) -> int:
        """Hold every open delivery of an account (paused, or credentials need a person)."""
        return await self.db.execute(
            "UPDATE deliveries SET state = 'held', last_error = ?, updated_at = ?"
            " WHERE account_id = ? AND state IN ('pending', 'retrying')", reason, now, account_id)

    async def release_account(self, account_id: str, now: datetime) -> int:
        """Resume an account. Deliveries held for their item's body (正文提取异常) stay held: resuming
        the account does not make the body right; a person retries them one by one."""
        return await self.db.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = NULL, updated_at = ?"
            " WHERE account_id = ? AND state = 'held' AND (last_error IS NULL OR last_error NOT LIKE ?)",
            now, account_id, BODY_HOLD_PREFIX + "%")

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
                marks = ",".join("?" * len(ids))
                await tx.execute(f"{back} WHERE id IN ({marks}) AND state = 'sending'", now, *ids)
                await tx.execute(f"DELETE FROM attempts WHERE finished_at IS NULL AND delivery_id IN ({marks})", *ids)
            for d in claims:
                if await tx.execute(back + _FENCED + " AND state = 'sending'",
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
                marks = ",".join("?" * len(lost))
                await tx.execute(
                    "UPDATE deliveries SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'pending' END,"
                    " attempts = attempts - 1, claimed_by = NULL, claim_gen = claim_gen + 1, updated_at = ?"
                    f" WHERE id IN ({marks}) AND state = 'sending' AND claimed_by = ?", now, *lost, holder)
                await tx.execute(f"DELETE FROM attempts WHERE finished_at IS NULL AND delivery_id IN ({marks})", *lost)
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
        return [(r["id"], r["account_id"], as_datetime(r["started_at"])) for r in rows]  # type: ignore[misc]

    async def max_attempt_id(self) -> int:
        row = await self.db.fetchrow("SELECT MAX(id) AS m FROM attempts")
        return int(row["m"] or 0) if row else 0

    async def attempts_after(self, after_id: int, exclude_holder: str) -> list[tuple[int, str, datetime]]:
        """Attempts other hubs started since attempt ``after_id`` (a primary-key range: cheap at any table size)."""
        rows = await self.db.fetch(
            "SELECT a.id, d.account_id, a.started_at FROM attempts a JOIN deliveries d ON d.id = a.delivery_id"
            " WHERE a.id > ? AND a.holder <> ? ORDER BY a.id", after_id, exclude_holder)
        return [(r["id"], r["account_id"], as_datetime(r["started_at"])) for r in rows]  # type: ignore[misc]

    async def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = await self.db.fetchrow("SELECT * FROM deliveries WHERE id = ?", delivery_id)
        return row_to_delivery(row) if row else None

    async def delivery_by_key(self, account_id: str, key: str) -> Delivery | None:
        """An account's delivery by its idempotency key (a channel that needs the delivery's id and deadline)."""
        row = await self.db.fetchrow(
            "SELECT * FROM deliveries WHERE account_id = ? AND idempotency_key = ? ORDER BY id DESC LIMIT 1",
            account_id, key)
        return row_to_delivery(row) if row else None

    async def find_delivery(self, account_id: str, external_id: str) -> Delivery | None:
        """By platform id (a callback's outcome), with the attempt it is waiting on: writes fenced as read."""
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT * FROM deliveries WHERE account_id = ? AND external_id = ? ORDER BY id DESC LIMIT 1",
                account_id, external_id)
            accepted = await self._accepted_attempts(tx, [row["id"]]) if row else {}
        return row_to_delivery({**row, "attempt_id": accepted.get(row["id"])}) if row else None

    async def retry_now(self, delivery_id: int, now: datetime) -> bool:
        """Operator: send again now (from failed, held or retrying)."""
        changed = await self.db.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = NULL, updated_at = ?"
            " WHERE id = ? AND state IN ('failed', 'held', 'retrying', 'pending')", now, delivery_id)
        return changed > 0

    async def skip(self, delivery_id: int, now: datetime, reason: str) -> bool:
        """Operator: do not send, with a reason that goes on record."""
        changed = await self.db.execute(
            "UPDATE deliveries SET state = 'skipped', note = ?, next_attempt_at = NULL, updated_at = ?"
            " WHERE id = ? AND state NOT IN ('delivered', 'skipped', 'sending')", reason, now, delivery_id)
        return changed > 0

    async def state_counts(self) -> dict[str, int]:
        rows = await self.db.fetch("SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

    async def deadline_counts(self, now: datetime, soon: datetime) -> tuple[int, int]:
        """(overdue, due before ``soon``) among deliveries not yet delivered, failed or skipped."""
        row = await self.db.fetchrow(
            "SELECT SUM(CASE WHEN deadline_at < ? THEN 1 ELSE 0 END) AS overdue,"
            " SUM(CASE WHEN deadline_at >= ? AND deadline_at < ? THEN 1 ELSE 0 END) AS soon"
            " FROM deliveries WHERE state NOT IN ('delivered', 'failed', 'skipped')", now, now, soon)
        return int(row["overdue"] or 0), int(row["soon"] or 0)

    async def oldest_open(self) -> Delivery | None:
        row = await self.db.fetchrow(
            "SELECT * FROM deliveries WHERE state NOT IN ('delivered', 'failed', 'skipped')"
            " ORDER BY deadline_at, id LIMIT 1")
        return row_to_delivery(row) if row else None

    async def deliveries(self, *, states: Iterable[str] | None = None, account_id: str | None = None,
                         item_id: int | None = None, limit: int = 1000,
                         possible_duplicate: bool | None = None, unit_id: str | None = None,
                         title: str | None = None, offset: int = 0) -> list[Delivery]:
        """Deliveries matching the filters, earliest deadline first; ``title`` is a substring of the item's
        title (the dashboard's search), ``offset`` pages through them."""
        where, args = _delivery_filter(states, account_id, item_id, possible_duplicate, unit_id, title)
        rows = await self.db.fetch(
            f"SELECT * FROM deliveries WHERE {where} ORDER BY deadline_at, id LIMIT ? OFFSET ?", *args, limit,
            max(offset, 0))
        return [row_to_delivery(r) for r in rows]

    async def waiting_on_blocked_accounts(self) -> int:
        """Pending or retrying deliveries of accounts that are paused or need re-authorisation: they arrived
        after the account's open work was held, and wait for it just the same (one query, any account count)."""
        return int(await self.db.fetchval(
            "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'retrying')"
            " AND account_id IN (SELECT account_id FROM accounts WHERE state <> 'active')") or 0)

    async def count_deliveries(self, *, states: Iterable[str] | None = None, account_id: str | None = None,
                               item_id: int | None = None, possible_duplicate: bool | None = None,
                               unit_id: str | None = None, title: str | None = None) -> int:
        """How many deliveries ``deliveries`` would list with these filters and no limit (for paging)."""
        where, args = _delivery_filter(states, account_id, item_id, possible_duplicate, unit_id, title)
        return int(await self.db.fetchval(f"SELECT COUNT(*) FROM deliveries WHERE {where}", *args) or 0)


def _delivery_filter(states: Iterable[str] | None, account_id: str | None, item_id: int | None,
                     possible_duplicate: bool | None, unit_id: str | None, title: str | None
                     ) -> tuple[str, list[Any]]:
    where, args = ["1=1"], []
    if possible_duplicate is not None:
        where.append("possible_duplicate = ?")
        args.append(possible_duplicate)
    if states:
        st = list(states)
        where.append(f"state IN ({','.join('?' * len(st))})")
        args.extend(st)
    if account_id:
        where.append("account_id = ?")
        args.append(account_id)
    if unit_id:
        where.append("unit_id = ?")
        args.append(unit_id)
    if item_id is not None:
        where.append("item_id = ?")
        args.append(item_id)
    if title:
        pattern = contains_pattern(title)
        where.append("item_id IN (SELECT id FROM items WHERE title LIKE ? ESCAPE '\\')")
        args.append(pattern)
    return " AND ".join(where), args
