"""Durable store: SQLite by default, PostgreSQL when several hub processes share the work."""

from __future__ import annotations

from core.clock import Clock
from syndicator.store.accounts import AccountsMixin
from syndicator.store.alerts import AlertsMixin
from syndicator.store.claims import Capacity, ClaimsMixin
from syndicator.store.db import Database, open_database
from syndicator.store.deadlines import DeadlinesMixin
from syndicator.store.delays import DelaysMixin
from syndicator.store.deliveries import DeliveriesMixin
from syndicator.store.evidence import EvidenceMixin
from syndicator.store.hubs import HubsMixin
from syndicator.store.items import IngestResult, ItemsMixin, PlannedDelivery
from syndicator.store.kv import StoreKeyValue
from syndicator.store.outcomes import OutcomesMixin
from syndicator.store.reports import ReportsMixin
from syndicator.store.schema import migrate
from syndicator.store.sources import SourcesMixin
from syndicator.store.verify import VerifyMixin

__all__ = ["Capacity", "IngestResult", "PlannedDelivery", "Store", "StoreKeyValue", "open_store"]


class Store(ItemsMixin, ClaimsMixin, OutcomesMixin, DeliveriesMixin, AccountsMixin, SourcesMixin, AlertsMixin,
            DelaysMixin, ReportsMixin, DeadlinesMixin, HubsMixin, EvidenceMixin, VerifyMixin):
    """Every durable operation of the hub; callers never see SQL or the dialect."""

    def __init__(self, db: Database, clock: Clock) -> None:
        super().__init__(db, clock)
        self.kv = StoreKeyValue(db, clock, self.outcomes)

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_store(url: str, clock: Clock) -> Store:
    db = open_database(url)
    await db.connect()
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return Store(db, clock)
