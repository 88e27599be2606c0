"""A real Dispatcher over a real store and one real channel against a sandbox look-alike, for outcome tests.

Smaller than a Hub (no upstream, watcher or web server): items go straight into the store with ``enqueue`` and
``settle`` dispatches until nothing is due, so a test reads the delivery state a platform answer leads to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp

from channels.base import AccountConfig, Channel, ChannelContext
from channels.registry import channel_class
from core.clock import FakeClock
from core.models import Delivery, Item, UnitRef
from syndicator.config import HubSettings
from syndicator.dispatch import Binding, Dispatcher
from syndicator.store import PlannedDelivery, Store
from tests.fakes import make_item

UNIT = UnitRef("ezhou-fgw", "鄂州市发展和改革委员会")


@dataclass
class Rig:
    store: Store
    clock: FakeClock
    dispatcher: Dispatcher
    channel: Channel
    account: AccountConfig
    unit: UnitRef

    async def alerts(self) -> list[str]:
        return [a["message"] for a in await self.store.recent_alerts(100) if a["subject"] == self.account.id]

    async def only(self) -> Delivery:
        (d,) = await self.store.deliveries(account_id=self.account.id)
        return d


def hub(instance_id: str = "test-hub", **extra: Any) -> HubSettings:
    return HubSettings.model_validate({"instance_id": instance_id, "retry_base_seconds": 10, "retry_cap_seconds": 600,
                                       "workers": 8, "send_timeout_seconds": 5, "confirm_interval_seconds": 5,
                                       **extra})


async def make_rig(store: Store, clock: FakeClock, session: aiohttp.ClientSession, account: dict[str, Any], *,
                   unit: UnitRef = UNIT, settings: HubSettings | None = None) -> Rig:
    config = AccountConfig.model_validate(account)

    async def alert(subject: str, message: str) -> None:
        await store.add_alert(subject, message, clock.now())

    settings = settings or hub()
    ctx = ChannelContext(session=session, kv=store.kv, clock=clock, alert=alert, holder_id=settings.instance_id)
    channel = channel_class(config.kind)(config, ctx)
    dispatcher = Dispatcher(settings, store, {config.id: Binding(channel, unit, config.concurrency)}, clock, alert)
    await dispatcher.start()
    return Rig(store, clock, dispatcher, channel, config, unit)


async def enqueue(rig: Rig, *items: Item) -> None:
    """Store ``items`` with one delivery each to the rig's account (as intake would)."""
    now = rig.clock.now()
    for item in items or (make_item(),):
        planned = [PlannedDelivery(rig.unit.id, rig.account.id, rig.account.kind, now + timedelta(days=1))]
        result = await rig.store.ingest(item, now, "detected", planned, now)
        assert result.status == "created", result


async def settle(dispatcher: Dispatcher, rounds: int = 50) -> None:
    """Dispatch until nothing is due now and nothing is in flight (no wall-clock waiting). The one such helper:
    hub tests drive their hub's dispatcher through it too (``tests.hub_support.drain``)."""
    for _ in range(rounds):
        started = await dispatcher.dispatch_once()
        busy = dispatcher.claimed
        await dispatcher.wait_idle()
        if not started and not busy:
            return
    raise AssertionError("dispatcher did not settle")
