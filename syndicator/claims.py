"""The dispatcher's side of fenced claims: outcomes that survive a store outage, and no send on a lost claim.

Every claim carries a fencing token (holder + claim generation, see ``syndicator.store.claims``). Here:

- an outcome write that fails because the store is unreachable is retried (capped backoff) until it is
  recorded or turns out to be fenced; after ``stale_claim_seconds`` it is left to recovery, which marks the
  delivery ambiguous so the next attempt asks the platform first — a send is never silently forgotten;
- a claim that has waited long enough to have been taken over (its hub paused, or cut off from the store
  past the heartbeat or stale window) is renewed in the store before its platform call, and dropped
  unsent when another hub holds it now: a hub that lost a claim does not resend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.clock import Clock
from core.models import Delivery
from syndicator.config import HubSettings
from syndicator.store import Store

log = logging.getLogger(__name__)
FIRST_RETRY_S = 0.2
RETRY_CAP_S = 5.0


class StoreUnavailable(Exception):
    """The store could not be asked; nothing was sent."""


class ClaimKeeper:
    def __init__(self, settings: HubSettings, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.give_up_s = settings.stale_claim_seconds
        # A claim older than this may have been taken over (a dead-looking hub's after heartbeat_timeout, anyone's
        # after stale_claim_seconds): ask before sending. Younger claims cannot have been, so the hot path
        # makes no extra round trip.
        self.verify_after_s = min(settings.stale_claim_seconds, settings.heartbeat_timeout_seconds) / 2
        self.fenced = 0            # writes and sends dropped because the claim was lost (tests, metrics)
        self.write_failures = 0    # outcome writes that failed and were retried
        self._unknown_claims: list[Any] = []    # times of claims that failed: their commit may have happened

    def claim_failed(self, when: Any) -> None:
        self._unknown_claims.append(when)

    async def settle_unknown_claims(self, holder: str, in_flight: Any) -> None:
        """Before the next claim (the claiming loop is serial): give back what a failed claim may have taken."""
        while self._unknown_claims:
            when = self._unknown_claims[0]
            lost = await self.store.release_unknown_claims(holder, when, in_flight, self.clock.now())
            if lost:
                log.warning("gave back %d deliveries claimed by a claim whose answer was lost: %s", len(lost), lost)
            self._unknown_claims.pop(0)

    async def record(self, d: Delivery, write: Callable[[], Awaitable[Any]]) -> bool:
        """Run an outcome write until it is durable; False when it was fenced (the claim was lost) or given up."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.give_up_s
        delay = FIRST_RETRY_S
        while True:
            try:
                result = await write()
            except Exception as exc:
                self.write_failures += 1
                if loop.time() + delay > give_up:
                    log.error("outcome of delivery %s still not recorded after %.0f s (%s); recovery will reconcile "
                              "it with its platform", d.id, self.give_up_s, exc)
                    return False
                log.error("recording the outcome of delivery %s failed, retrying in %.1f s: %s: %s",
                          d.id, delay, type(exc).__name__, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP_S)
                continue
            if result is False:
                self.fenced += 1
                return False
            return True

    async def give_back(self, d: Delivery, why: BaseException) -> None:
        """Nothing was sent (the store failed before the platform call): return the claim to the queue."""
        log.error("delivery %s handed back unsent: %s: %s", d.id, type(why).__name__, why)
        await self.record(d, lambda: self.store.release([d], self.clock.now()))

    async def still_ours(self, d: Delivery) -> bool:
        """Before a platform call: True when the claim is young or renewed; False when it was taken over."""
        now = self.clock.now()
        if d.claimed_at is None or (now - d.claimed_at).total_seconds() < self.verify_after_s:
            return True
        try:
            renewed = await self.store.renew_claim(d, now)
        except Exception as exc:
            raise StoreUnavailable(str(exc)) from exc
        if renewed:
            d.claimed_at = now
            return True
        self.fenced += 1
        log.warning("fenced: delivery %s was taken over while it waited (claim %s/%d); not sending it",
                    d.id, d.claimed_by, d.claim_gen)
        return False
