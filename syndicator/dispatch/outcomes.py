"""What is recorded when a send ends: delivered or confirming for a Receipt; retry, failed or held for a typed error.

Only typed errors (channels.base) are acted on: whatever else a send raised was turned into one first
(``channels.failures.as_channel_error``), so the meaning of a failure is decided in the clients and in
channels.failures, never here. Outcomes are written fenced (``syndicator.claims``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from channels.base import AccountHeld, AuthExpired, ChannelError, PermanentError, Receipt, RetryLater
from core.clock import Clock
from core.models import Alert, Delivery
from syndicator.claims import ClaimKeeper
from syndicator.config import HubSettings
from syndicator.dispatch.limits import AccountGates
from syndicator.store import Store
from syndicator.store.evidence import receipt_statement

log = logging.getLogger(__name__)
LONGEST_WAIT_S = 32 * 86_400
REMOVED = "账号已从配置中移除，待人工处理"
_ERROR_OUTCOME: dict[type[ChannelError], str] = {AuthExpired: "held", PermanentError: "failed", RetryLater: "retry"}


def join_notes(*notes: str | None) -> str | None:
    return "；".join(n for n in notes if n) or None


class Outcomes:
    """Records the end of one send or confirmation, and holds an account whose credentials or platform refuse."""

    def __init__(self, settings: HubSettings, store: Store, clock: Clock, alert: Alert, claims: ClaimKeeper,
                 gates: AccountGates) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.alert = alert
        self.claims = claims
        self.gates = gates

    def backoff(self, attempts: int) -> float:
        return min(self.settings.retry_base_seconds * (2 ** max(attempts - 1, 0)), self.settings.retry_cap_seconds)

    async def removed(self, d: Delivery) -> None:
        """The account is gone from the config: a person decides what becomes of its delivery."""
        await self.claims.record(d, lambda: self.store.mark_held(d, self.clock.now(), REMOVED))

    async def accepted(self, d: Delivery, receipt: Receipt) -> None:
        assert d.id is not None
        now = self.clock.now()
        # A platform that refused this attempt as a repeat (receipt.deduplicated) proves the post exists once:
        # an earlier ambiguous attempt is then no longer a possible duplicate.
        blind = d.possible_duplicate and not receipt.deduplicated
        duplicate = blind or receipt.possible_duplicate
        note = receipt.note
        if blind and not receipt.possible_duplicate:
            note = join_notes(note, "上次发送结果不明且平台无法核实，可能重复发布")
        proof = [receipt_statement(d.id, now, "accepted" if receipt.pending else "delivered",
                                   external_id=receipt.external_id, url=receipt.url,
                                   platform_published_at=receipt.published_at, body=receipt.raw)]
        if receipt.pending:
            check_at = now + timedelta(seconds=self.settings.confirm_interval_seconds)
            await self.claims.record(d, lambda: self.store.mark_confirming(
                d, now, receipt.external_id, check_at, note, possible_duplicate=duplicate, extra=proof))
            return
        if not await self.claims.record(d, lambda: self.store.mark_delivered(
                d, now, receipt.external_id, receipt.url, note, duplicate, extra=proof)):
            return
        log.info("delivered %s to %s (%s)%s", d.id, d.account_id, receipt.url or receipt.external_id,
                 " [possible duplicate]" if duplicate else "")

    async def still_pending(self, d: Delivery) -> None:
        """The platform is still working on it: ask again after ``confirm_interval_seconds``."""
        assert d.external_id is not None
        now = self.clock.now()
        check_at = now + timedelta(seconds=self.settings.confirm_interval_seconds)
        external_id = d.external_id
        await self.claims.record(d, lambda: self.store.mark_confirming(d, now, external_id, check_at))

    async def failed(self, d: Delivery, exc: ChannelError) -> None:
        """Act on a typed error: AuthExpired holds the account, PermanentError fails, RetryLater schedules."""
        assert d.id is not None
        now = self.clock.now()
        if exc.code is not None:   # the platform's own code, kept as proof
            try:
                await self.store.record_receipt(d.id, now, _ERROR_OUTCOME.get(type(exc), "retry"), code=exc.code,
                                                body={"reason": exc.reason, "detail": exc.detail})
            except Exception as write_error:     # proof is best effort; the outcome below must still be recorded
                log.warning("delivery %s: the platform's answer (code %s) was not kept: %s", d.id, exc.code,
                            write_error)
        if isinstance(exc, AuthExpired):
            await self._hold_account(d, exc.reason, now, platform_hold=isinstance(exc, AccountHeld))
        elif isinstance(exc, PermanentError):
            if not await self.claims.record(d, lambda: self.store.mark_failed(d, now, exc.reason)):
                return
            log.error("delivery %s to %s failed permanently: %s (%s)", d.id, d.account_id, exc.reason, exc.detail)
            await self.alert(d.account_id, f"发送失败需人工处理：{exc.reason}（投递 #{d.id}）")
        else:
            retry_after = exc.retry_after if isinstance(exc, RetryLater) else None
            ambiguous = exc.ambiguous if isinstance(exc, RetryLater) else True
            await self._retry(d, now, exc.reason, retry_after, ambiguous=ambiguous, detail=exc.detail)

    async def _retry(self, d: Delivery, now: datetime, reason: str, retry_after: float | None, *,
                     ambiguous: bool, detail: str = "") -> None:
        assert d.id is not None
        if d.attempts >= self.settings.max_attempts:
            why = f"{reason}（已重试 {d.attempts} 次）"
            if not await self.claims.record(d, lambda: self.store.mark_failed(d, now, why)):
                return
            await self.alert(d.account_id, f"多次重试仍失败，需人工处理：{reason}（投递 #{d.id}）")
            return
        # A platform's own wait is honoured (WeChat 45028: until next month), but never an absurd one.
        delay = min(retry_after, LONGEST_WAIT_S) if retry_after is not None else self.backoff(d.attempts)
        # An earlier ambiguous attempt that could not be checked stays ambiguous until one succeeds.
        still_unknown = d.ambiguous and d.possible_duplicate
        if not await self.claims.record(d, lambda: self.store.mark_retry(
                d, now, reason, now + timedelta(seconds=delay), ambiguous=ambiguous or still_unknown)):
            return
        log.warning("delivery %s to %s will retry in %.0f s: %s %s", d.id, d.account_id, delay, reason, detail)

    async def _hold_account(self, d: Delivery, reason: str, now: datetime, *, platform_hold: bool = False) -> None:
        """Hold every open delivery of the account; ``platform_hold``: the platform restricts the account
        (AccountHeld), otherwise its credentials need renewing. Either way a person resumes it."""
        assert d.id is not None
        if not await self.claims.record(d, lambda: self.store.mark_held(d, now, reason)):
            return
        state = "platform_hold" if platform_hold else "needs_reauth"
        if self.gates.held(d.account_id):
            return
        self.gates.close(d.account_id, state)
        await self.store.set_account_state(d.account_id, state, reason, now)
        held = await self.store.hold_account(d.account_id, now, reason)
        log.error("account %s held (%s); %d deliveries held", d.account_id, state, held + 1)
        if platform_hold:
            await self.alert(d.account_id, f"账号被平台限制，已暂停发送：{reason}；已暂存 {held + 1} 条待发稿件，"
                                           "处理后请恢复该账号")
        else:
            await self.alert(d.account_id, f"账号授权失效，需重新授权：{reason}；已暂存 {held + 1} 条待发稿件")
