"""Outcomes: what became of a claimed delivery's attempt, written through the group commit.

An outcome written for a claim (a ``Delivery``) is fenced: applied only while that claim still stands
(``syndicator.store.claims``), so a hub that lost its claim cannot overwrite what the hub that took over
recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from core.models import Delivery
from syndicator.store.base import FENCED, StoreBase
from syndicator.store.group_commit import Statement

log = logging.getLogger(__name__)


class OutcomesMixin(StoreBase):
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
        statements: list[Statement] = [(sql + FENCED, (*args, target.id, target.claim_gen, fence[1]))]
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
