"""The fan-out workers: claim due deliveries earliest-deadline-first and publish them.

At-least-once, made exactly-once where the platform allows: a delivery whose last attempt may
have reached the platform (a timeout, a crash mid-send, a channel's ``RetryLater(ambiguous=True)``)
is marked ambiguous, and its next attempt first asks the platform (``Channel.lookup``); what it
finds goes through the normal outcome path (a post still in progress is confirmed, not assumed).
Where a platform cannot be asked, the resend is recorded as a possible duplicate — unless the
platform itself refuses it as a repeat (``Receipt.deduplicated``). Per-account concurrency and
hourly rate limits (shared by every hub on the database) are enforced here, so channels stay simple.

Claims run ahead of the sends: up to ``workers`` more deliveries than are being sent are claimed and wait
for a send slot (in claim order), so a finished send is followed by the next one at once instead of by a
round trip to the store. A slot is held for the platform call only, not while its outcome is recorded. A
claimed delivery waits at most one send before its own starts, which is why ``stale_claim_seconds`` must
exceed twice ``send_timeout_seconds`` (plus the time to record an outcome).

Three supervised loops (``syndicator.supervisor``) drive it: claiming, confirmations and recovery (stale
claims, and the claims of hubs whose heartbeat expired, every ``stale_check_interval``). Outcomes are written
fenced and retried through store outages (``syndicator.claims``); a store error never ends a loop.

One retry layer: the in-call retries of the platform clients (channels.retrying), never a second one here.
Only the client knows which of its calls may be repeated at once (a connection that never opened, a key the
platform honours, a read), and it turns what is left into a typed error (channels.failures). The dispatcher
acts on that typed error alone — RetryLater schedules the next attempt with backoff (reconciling first when
ambiguous), PermanentError fails, AuthExpired holds the account (syndicator.dispatch.outcomes) — so a send is
never repeated by two nested layers (3 × 3 tries) and no failure is interpreted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from channels.base import Channel, ChannelError, PermanentError, Receipt
from channels.failures import TRANSPORT, as_channel_error
from core.clock import Clock
from core.models import Alert, Delivery, Item, UnitRef
from syndicator.claims import ClaimKeeper, StoreUnavailable
from syndicator.config import HubSettings
from syndicator.dispatch.limits import AccountGates, HourlyLimit
from syndicator.dispatch.outcomes import Outcomes, join_notes
from syndicator.store import Capacity, Store
from syndicator.supervisor import Supervisor

log = logging.getLogger(__name__)
ITEM_CACHE = 5000


@dataclass(slots=True)
class Binding:
    """One account's live channel and the unit it belongs to."""

    channel: Channel
    unit: UnitRef
    concurrency: int


class Dispatcher:
    """Claims and sends (see the module docstring). Public surface: ``run`` / ``drain`` for the hub;
    ``dispatch_once`` + ``wait_idle`` to drive it step by step; ``pause`` / ``resume`` / ``wake`` / ``hint`` /
    ``forget_item`` for what operators and callbacks change."""

    def __init__(self, settings: HubSettings, store: Store, bindings: dict[str, Binding], clock: Clock,
                 alert: Alert) -> None:
        self.settings = settings
        self.store = store
        self.bindings = bindings
        self.clock = clock
        self.alert = alert
        self.holder = settings.instance_id
        self.limits = HourlyLimit({a: b.channel.rate_per_hour for a, b in bindings.items()})
        self.gates = AccountGates()
        self._in_flight: dict[int, asyncio.Task[None]] = {}    # claimed and not finished (sending or waiting)
        self._slots = asyncio.Semaphore(settings.workers)        # sends actually running
        self._hold = 2 * settings.workers                        # claimed ahead: waiting for a slot
        self._sending = 0
        self._draining = False
        self._per_account: defaultdict[str, int] = defaultdict(int)
        self._wake = asyncio.Event()
        self._items: dict[int, Item] = {}
        self._accounts_checked = clock.now()
        self._orphans_checked = clock.now()
        self._confirmations_checked = clock.now() - timedelta(seconds=1)
        self._claimed_at = clock.now() - timedelta(days=1)
        self._started = False
        self.claims = ClaimKeeper(settings, store, clock)
        self.outcomes = Outcomes(settings, store, clock, alert, self.claims, self.gates)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Recover from a previous life: orphaned sends, account states, rate windows."""
        now = self.clock.now()
        stale = now - timedelta(seconds=self.settings.stale_claim_seconds)
        recovered = await self.store.recover_orphans(self.holder, stale, now)
        if recovered:
            log.warning("recovered %d deliveries that were being sent when a hub stopped; "
                        "they will be reconciled with their platforms before any resend", recovered)
        # Every hub's attempts of the last hour, ours from before a restart included; later only other hubs'.
        self.limits.last_id = await self.store.max_attempt_id()
        self.limits.absorb(await self.store.recent_attempts(now - timedelta(hours=1)), now)
        await self.refresh_accounts()

    async def recover_stale(self, now: datetime) -> int:
        """Another hub sharing the database died mid-send and has not come back: take over its claims.

        Our own sends never look stale (send_timeout_seconds < stale_claim_seconds).
        """
        self._orphans_checked = now
        stale = now - timedelta(seconds=self.settings.stale_claim_seconds)
        recovered = await self.store.recover_orphans("", stale, now)
        if recovered:
            log.warning("took over %d sends of a hub that stopped or went silent; reconciling before any resend",
                        recovered)
            self._wake.set()
        return recovered

    async def run(self, stop: asyncio.Event, supervisor: Supervisor | None = None) -> None:
        """The claiming, confirmation and recovery loops, supervised, until ``stop`` is set; then drain."""
        sup = supervisor or Supervisor(self.clock, self.alert)
        loops = [
            asyncio.create_task(sup.loop("dispatcher", self._claim_pass, stop, self.settings.tick_seconds,
                                         wake=self._wake), name="dispatcher"),
            asyncio.create_task(sup.loop("confirmations", self._confirm_pass, stop, 1.0), name="confirmations"),
            asyncio.create_task(sup.loop("recovery", self._recovery_pass, stop, self.settings.stale_check_interval),
                                name="recovery"),
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self.drain(self.settings.send_timeout_seconds)

    async def _ensure_started(self) -> None:
        if not self._started:
            await self.start()
            self._started = True

    async def _claim_pass(self) -> None:
        await self._ensure_started()
        now = self.clock.now()
        if (now - self._accounts_checked).total_seconds() >= 5:
            await self.refresh_accounts()
        await self.claim_once(now)

    async def _confirm_pass(self) -> None:
        await self._ensure_started()
        await self.confirm_once(self.clock.now())

    async def _recovery_pass(self) -> None:
        await self._ensure_started()
        await self.recover_stale(self.clock.now())

    async def drain(self, grace: float) -> None:
        """Stop: let sends in flight finish within ``grace`` seconds, give the rest back to the queue."""
        await asyncio.sleep(0)       # deliveries just claimed while a slot was free take it and are sent
        self._draining = True        # those still waiting for a slot go straight back to the queue
        if not self._in_flight:
            return
        log.info("waiting up to %.0f s for %d sends in flight", grace, self._sending)
        _done, pending = await asyncio.wait(set(self._in_flight.values()), timeout=grace)
        if pending:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    @property
    def in_flight(self) -> int:
        """Sends running now (claimed deliveries waiting for a slot not counted)."""
        return self._sending

    @property
    def claimed(self) -> int:
        """Deliveries claimed and not finished: sending, waiting for a slot, or having their outcome recorded."""
        return len(self._in_flight)

    async def wait_idle(self) -> None:
        """Wait until every delivery claimed so far — and any claimed meanwhile — has finished (outcome
        recorded). Claims nothing itself: with the loops stopped, ``dispatch_once`` then ``wait_idle`` is one
        step of the work, which is how tests and one-shot commands run the dispatcher without wall-clock waits."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    # ------------------------------------------------------------------ account gates
    def pause(self, account_id: str, state: str = "paused") -> None:
        """Stop claiming for the account now (its state is already written to the store by the caller)."""
        self.gates.close(account_id, state)

    def resume(self, account_id: str) -> None:
        """Claim for the account again now, and look for its released deliveries at once."""
        self.gates.open(account_id)
        self.wake()

    # ------------------------------------------------------------------ claiming
    def capacity(self, now: datetime) -> Capacity:
        """Room per account for this claim. Built from the few accounts that are closed (paused, at their
        concurrency, out of hourly quota), never by walking all bindings: a province has 40,000 accounts."""
        closed = self.gates.closed() | self.limits.full(now)
        closed.update(a for a, n in self._per_account.items() if n >= self._concurrency(a))

        def room(account_id: str) -> int:
            binding = self.bindings.get(account_id)
            if binding is None:      # removed from the config: claimed so that _send holds it for a person
                return 1
            free = binding.concurrency - self._per_account.get(account_id, 0)
            return min(free, self.limits.room(account_id, now))

        return Capacity(room=room, closed=frozenset(closed))

    def _concurrency(self, account_id: str) -> int:
        binding = self.bindings.get(account_id)
        return binding.concurrency if binding is not None else 1

    async def refresh_accounts(self) -> None:
        """Pick up pauses and resumes made by operators from another process (CLI, console), and the sends
        other hubs sharing the database started (so the hourly limits hold across hubs)."""
        states = await self.store.account_states()
        self.gates.replace({a: s for a, (s, _r) in states.items() if s != "active"})
        now = self.clock.now()
        self.limits.absorb(await self.store.attempts_after(self.limits.read_after, self.holder), now)
        self._accounts_checked = now

    async def dispatch_once(self) -> int:
        """Claim what is due and start sending it; return how many were started."""
        now = self.clock.now()
        if (now - self._accounts_checked).total_seconds() >= 5:
            await self.refresh_accounts()
        if (now - self._orphans_checked).total_seconds() >= self.settings.stale_check_interval:
            await self.recover_stale(now)
        return await self.confirm_once(now) + await self.claim_once(now)

    async def confirm_once(self, now: datetime) -> int:
        """Claim the pending outcomes due to be asked for; return how many were started."""
        free = self._hold - len(self._in_flight)
        # Outcomes are asked for at confirm_interval_seconds (>= 1 s apart): one look a second is enough.
        if free <= 0 or (now - self._confirmations_checked).total_seconds() < 1:
            return 0
        self._confirmations_checked = now
        confirmations = await self.store.claim_confirmations(now, self.holder, free)
        for d in confirmations:
            self._spawn(d, self._confirm)
        return len(confirmations)

    async def claim_once(self, now: datetime) -> int:
        """Claim due deliveries into free slots; return how many were started."""
        free = self._hold - len(self._in_flight)
        # Under load every finished send wakes the loop; claiming a few slots at a time would make the claim
        # query the bottleneck, so wait until a quarter of the workers are free (or a tick has passed).
        batch = max(1, self.settings.workers // 4)
        if free <= 0 or (free < batch and (now - self._claimed_at).total_seconds() < self.settings.tick_seconds):
            return 0
        await self.claims.settle_unknown_claims(self.holder, self._in_flight)
        self._claimed_at = now
        try:
            claimed = await self.store.claim_due(now, self.holder, self.capacity(now), free)
        except Exception:
            self.claims.claim_failed(now)
            raise
        for d in claimed:
            self.limits.record(d.account_id, now)
            self._spawn(d, self._send)
        return len(claimed)

    def _spawn(self, d: Delivery, work: Callable[[Delivery], Awaitable[None]]) -> None:
        assert d.id is not None
        self._per_account[d.account_id] += 1

        async def guarded() -> None:
            try:
                await work(d)
            except _NotStarted:         # claimed ahead, stopped before its platform call: as if never claimed
                await self.claims.record(d, lambda: self.store.release([d], self.clock.now()))
            except asyncio.CancelledError:
                await asyncio.shield(self.store.release([d], self.clock.now()))
                raise
            except Exception:
                log.exception("unexpected error handling delivery %s", d.id)
            finally:
                self._per_account[d.account_id] -= 1
                if not self._per_account[d.account_id]:
                    del self._per_account[d.account_id]     # keep it as small as what is in flight
                self._in_flight.pop(d.id, None)  # type: ignore[arg-type]
                self._wake.set()

        self._in_flight[d.id] = asyncio.create_task(guarded(), name=f"delivery-{d.id}")

    # ------------------------------------------------------------------ sending
    @contextlib.asynccontextmanager
    async def _platform_call(self) -> AsyncIterator[None]:
        """A send slot (``workers`` of them) for the platform calls alone: recording the outcome afterwards
        waits for the store, not the platform, so it does not keep the next send waiting."""
        async with self._slots:
            if self._draining:
                raise _NotStarted
            self._sending += 1
            try:
                yield
            finally:
                self._sending -= 1

    async def _item(self, d: Delivery) -> Item:
        item = self._items.get(d.item_id)
        if item is None:
            item = await self.store.get_item(d.item_id)
            if item is None:
                raise PermanentError("稿件记录缺失", f"item {d.item_id} missing")
            if len(self._items) > ITEM_CACHE:
                self._items.clear()
            self._items[d.item_id] = item
        return item

    def forget_item(self, item_id: int) -> None:
        """The item changed upstream: read it afresh for its next delivery."""
        self._items.pop(item_id, None)

    async def _send(self, d: Delivery) -> None:
        assert d.id is not None
        binding = self.bindings.get(d.account_id)
        if binding is None:
            await self.outcomes.removed(d)
            return
        found = None
        try:
            item = await self._item(d)
        except PermanentError as exc:
            await self.outcomes.failed(d, exc)
            return
        except Exception as exc:          # the store could not be read: nothing was sent
            await self.claims.give_back(d, exc)
            return
        try:
            async with self._platform_call():
                if not await self.claims.still_ours(d):
                    return
                # No extra task per send; the lookup and the publish share the budget (stale_claim_seconds
                # is validated against it).
                async with asyncio.timeout(self.settings.send_timeout_seconds):
                    if d.ambiguous:
                        found = await self._reconcile(binding.channel, d)
                    if found is None:
                        receipt = await binding.channel.publish(item, binding.unit, d.idempotency_key)
        except _NotStarted:
            raise
        except StoreUnavailable as exc:
            await self.claims.give_back(d, exc)
            return
        except Exception as exc:
            await self._failed(d, exc)
            return
        if found is not None:
            # What the platform shows may still be in progress (WeChat publish_status 1): the normal outcome
            # path decides (pending -> confirming), never "delivered" just because it exists.
            checked = "核对平台：上次发送已提交，等待平台结果" if found.pending else "核对平台：上次发送已成功"
            await self.outcomes.accepted(d, dataclasses.replace(found, note=join_notes(checked, found.note)))
            return
        await self.outcomes.accepted(d, receipt)

    async def _reconcile(self, channel: Channel, d: Delivery) -> Receipt | None:
        """Ask the platform whether the ambiguous attempt landed; mark a blind resend otherwise."""
        try:
            return await channel.lookup(d.idempotency_key)
        except NotImplementedError:
            d.possible_duplicate = True
            return None

    async def _failed(self, d: Delivery, exc: Exception) -> None:
        """A send or confirmation raised: act on it as the typed error it is (or is made into)."""
        if not isinstance(exc, (ChannelError, *TRANSPORT)):
            log.error("delivery %s to %s: unexpected %s: %s", d.id, d.account_id, type(exc).__name__, exc)
        await self.outcomes.failed(d, as_channel_error(exc))

    async def _confirm(self, d: Delivery) -> None:
        assert d.id is not None
        binding = self.bindings.get(d.account_id)
        if binding is None or d.external_id is None:
            await self.outcomes.removed(d)
            return
        try:
            async with self._platform_call():
                receipt = await binding.channel.confirm(Receipt(
                    external_id=d.external_id, note=d.note, pending=True, possible_duplicate=d.possible_duplicate))
        except _NotStarted:
            raise
        except Exception as exc:
            await self._failed(d, exc)
            return
        if receipt is None:
            await self.outcomes.still_pending(d)
            return
        await self.outcomes.accepted(d, receipt)

    async def hint(self, account_id: str, external_id: str) -> bool:
        """A callback says a pending post finished (WeChat PUBLISHJOBFINISH / MASSSENDJOBFINISH). It is only a
        hint — anyone holding a callback URL can post one — so the platform is asked now (freepublish/get,
        message/mass/get) through the normal confirm path; nothing is marked from the event itself."""
        now = self.clock.now()
        d = await self.store.claim_confirmation(account_id, external_id, now, self.holder,
                                                now + timedelta(minutes=5))
        if d is None:
            return False
        self._spawn(d, self._confirm)
        return True

    def backoff(self, attempts: int) -> float:
        return self.outcomes.backoff(attempts)

    def wake(self) -> None:
        """Look for due work now (an operator released or re-queued deliveries)."""
        self._wake.set()


class _NotStarted(Exception):
    """The hub is stopping and this claimed delivery's platform call had not begun."""
