"""What every part of the Store stands on: the typed database, the clock, the outcome group commit, and the
row helpers several parts share.

Each mixin derives from ``StoreBase`` so it is type-checked against the real ``Database`` (no ``db: Any``):
a misspelt method or a wrong argument is found by mypy, not in production.
"""

from __future__ import annotations

from collections.abc import Sized
from datetime import datetime
from typing import Any

from core.clock import Clock
from core.models import Delivery, DeliveryState
from syndicator.store.db import Database, Row, as_datetime
from syndicator.store.group_commit import GroupCommit

# The fencing condition, in the same statement as each claim-holder's write (args: id, claim_gen, holder).
FENCED = " WHERE id = ? AND claim_gen = ? AND COALESCE(claimed_by, '') = ?"


class StoreBase:
    """The state every store mixin shares; ``syndicator.store.Store`` combines the mixins."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.outcomes = GroupCommit(db)    # delivery outcomes (and what rides with them) share commits


def marks(values: Sized) -> str:
    """``?,?,…`` for an ``IN (…)`` of these values."""
    return ",".join("?" * len(values))


def required_time(value: Any) -> datetime:
    """A NOT NULL time column read back (``as_datetime`` of a column that may be NULL says ``| None``)."""
    at = as_datetime(value)
    if at is None:
        raise ValueError("a required time column is NULL")
    return at


def row_to_delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"], item_id=row["item_id"], unit_id=row["unit_id"], account_id=row["account_id"],
        channel_kind=row["channel_kind"], deadline_at=required_time(row["deadline_at"]),
        idempotency_key=row["idempotency_key"], state=DeliveryState(row["state"]),
        deadline_provisional=bool(row["deadline_provisional"]), attempts=row["attempts"],
        next_attempt_at=as_datetime(row["next_attempt_at"]), delivered_at=as_datetime(row["delivered_at"]),
        external_id=row["external_id"], external_url=row["external_url"], last_error=row["last_error"],
        note=row["note"], possible_duplicate=bool(row["possible_duplicate"]), ambiguous=bool(row["ambiguous"]),
        claimed_by=row["claimed_by"], claim_gen=row.get("claim_gen", 0), attempt_id=row.get("attempt_id"),
        claimed_at=as_datetime(row.get("claimed_at")), verify_state=row.get("verify_state"),
    )
