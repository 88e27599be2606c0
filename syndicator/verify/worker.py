"""The verification worker: claims due checks and runs them on its own budget.

Bounded apart from sending: at most ``[verify] concurrency`` checks at once and ``per_host`` per public host,
through its own Fetcher and semaphores — a slow unit site never takes a send slot or an upstream poll slot.
Schedule: a reprint not yet seen is looked for right after delivery, then after each ``schedule`` interval
(the last repeated), and once more at its deadline; from the deadline on it is ``not_visible`` (the delay
monitor puts "已发送但公开页面未见" on record) and still looked for hourly until ``recheck_days`` past the
deadline. A verified reprint is re-checked daily for ``recheck_days``; one that has disappeared is ``gone``
and raises an alert. A check that could not run (timeout, 5xx, token) keeps its state, is retried and says why
on its proof row.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from core.clock import Clock
from core.host_limits import HostLimits
from core.models import Alert
from syndicator.config import VerifySettings
from syndicator.store import Store
from syndicator.store.verify import Proof, VerifyResult, VerifyTask
from syndicator.verify.base import Checker

log = logging.getLogger(__name__)
DAY = timedelta(days=1)
# A claim held by a hub that died is due again after this; long enough for a whole claim to wait its turn at one
# slow host (a double check would only add a proof row).
LEASE = timedelta(minutes=30)
CHECK_TIMEOUT_S = 120.0                # one check, once it has its slots (fetch timeouts are shorter)
GONE_ALERT = "已发布的转载在公开页面消失"


class Verifier:
    def __init__(self, settings: VerifySettings, store: Store, checkers: Mapping[str, Checker], clock: Clock,
                 alert: Alert | None = None) -> None:
        self.settings, self.store, self.checkers, self.clock, self.alert = settings, store, checkers, clock, alert
        self.slots = asyncio.Semaphore(settings.concurrency)
        self.hosts = HostLimits(settings.per_host)
        self.done = 0
        self.batch = settings.concurrency * 8      # checks per claim

    async def verify_once(self) -> int:
        """Claim what is due now and check it (bounded); the number of checks made. The proofs and new states
        of one claim are written together."""
        if not self.settings.enabled:
            return 0
        now = self.clock.now()
        tasks = await self.store.claim_verifications(now, self.batch, now + LEASE)
        if not tasks:
            return 0
        proofs = await asyncio.gather(*(self._check(t) for t in tasks))
        at = self.clock.now()
        results = [self._result(t, p, at) for t, p in zip(tasks, proofs, strict=True)]
        await self.store.record_verifications(results)
        for task, result in zip(tasks, results, strict=True):
            if result.state == "gone" and task.verify_state != "gone":
                await self._alert_gone(task, result.proof)
        self.done += len(tasks)
        return len(tasks)

    async def drain(self, rounds: int = 1000) -> int:
        """Check until nothing is due now (tests, bench)."""
        total = 0
        for _ in range(rounds):
            n = await self.verify_once()
            total += n
            if n == 0:
                return total
        return total

    async def _check(self, task: VerifyTask) -> Proof:
        checker = self.checkers.get(task.account_id)
        if checker is None:
            return Proof("error", reason=f"账号 {task.account_id} 已不在配置中，无法核验")
        try:
            async with self.hosts.hold(checker.host(task) or task.account_id), self.slots:
                return await asyncio.wait_for(checker.check(task), CHECK_TIMEOUT_S)
        except TimeoutError:
            return Proof("error", reason=f"核验超时（{CHECK_TIMEOUT_S:g} 秒内未完成），稍后重试")
        except Exception as exc:     # a checker bug is a failed check on record, never a silent pass
            log.exception("verification of delivery %s failed", task.id)
            return Proof("error", reason=f"核验程序出错：{type(exc).__name__}")

    def _interval(self, attempts: int) -> timedelta:
        s = self.settings.schedule
        return timedelta(seconds=s[min(attempts, len(s) - 1)])

    def _result(self, task: VerifyTask, proof: Proof, now: datetime) -> VerifyResult:
        """What one check makes of its delivery (see the module docstring for the schedule)."""
        window = timedelta(days=self.settings.recheck_days)
        hourly = timedelta(seconds=self.settings.schedule[-1])

        def result(state: str, next_at: datetime | None, *, verified_at: datetime | None = None,
                   note: str | None = None) -> VerifyResult:
            return VerifyResult(task.id, now, proof, state, next_at, verified_at, note)

        if proof.outcome == "unverifiable":
            return result("unverifiable", None, note=proof.reason)
        if task.verify_state in ("verified", "gone"):
            if proof.outcome == "absent":
                return result("gone", None, note=proof.reason)
            since = task.verified_at or now
            step = DAY if proof.outcome == "seen" else hourly      # a failed re-check is tried again sooner
            return result("verified", now + step if now + step <= since + window else None)
        if proof.outcome == "seen":
            late = "（截止时间后才在公开页面见到）" if now > task.deadline_at else ""
            return result("verified", now + DAY if window >= DAY else None, verified_at=now,
                          note=(proof.reason or "") + late or None)
        # not seen (or the check could not run): try again on the schedule, and once more at the deadline
        if now < task.deadline_at:
            return result("pending", min(now + self._interval(task.attempts), task.deadline_at), note=proof.reason)
        return result("not_visible", now + hourly if now + hourly <= task.deadline_at + window else None,
                      note=proof.reason)

    async def _alert_gone(self, task: VerifyTask, proof: Proof) -> None:
        log.warning("delivery %s: verified reprint gone from its public page", task.id)
        if self.alert is None:
            return
        try:
            why = proof.reason or "公开页面已找不到该稿件"
            await self.alert(task.account_id, f"【{GONE_ALERT}】{task.unit_id}《{task.title}》（投递 #{task.id}）："
                                              f"{why}\n处理建议：请联系单位核实该稿件是否被删除或撤下，必要时重新发布。")
        except Exception:
            log.exception("gone alert for delivery %s failed", task.id)

    async def tick(self) -> None:
        """One supervised pass (syndicator.app): claim after claim while claims come back full (a backlog after
        a burst of deliveries), never more than ``concurrency`` checks at once, at most 100 claims a pass."""
        for _ in range(100):
            if await self.verify_once() < self.batch:
                return
