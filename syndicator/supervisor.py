"""One supervisor for every long-running loop of the hub (watcher, dispatcher, confirmations, recovery,
heartbeat, delay monitor, calendar checks, web).

A loop is a pass run again and again. A pass that raises never ends the loop: the failure is logged at
once (with its traceback), the pass is retried after a capped exponential backoff, and a loop that keeps
failing raises an alert (and a notice when it recovers). Each loop's last successful pass is kept so
``/healthz``, ``status``, the metrics and the dashboard can say which loop is stuck and why, instead of
answering "ok" while nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import Clock
from core.models import Alert

log = logging.getLogger(__name__)
ALERT_AFTER_FAILURES = 3        # consecutive failed passes before a person is told
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
GRACE_S = 10.0                  # a pass may run this much past its interval before the loop counts as stuck


@dataclass(slots=True)
class LoopHealth:
    name: str
    interval_s: float                     # expected time between passes
    started_at: datetime
    last_ok: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0                     # consecutive
    failing_since: datetime | None = None
    alerted: bool = False
    running: bool = True

    def problem(self, now: datetime) -> str | None:
        """Why this loop is unhealthy now (Simplified Chinese for operators), or None."""
        if not self.running:
            return None
        since = self.last_ok or self.started_at
        allowed = 2 * self.interval_s + GRACE_S
        late = (now - since).total_seconds()
        if late <= allowed:
            return None
        if self.failures:
            return f"{self.name} 已连续失败 {self.failures} 次（{late:.0f} 秒无成功运行）：{self.last_error}"
        return f"{self.name} 已 {late:.0f} 秒未完成一轮（应每 {self.interval_s:g} 秒一轮）"

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {"interval_seconds": self.interval_s, "last_ok": self.last_ok, "failures": self.failures,
                "last_error": self.last_error, "last_error_at": self.last_error_at,
                "failing_since": self.failing_since, "problem": self.problem(now)}


class Supervisor:
    def __init__(self, clock: Clock, alert: Alert | None = None) -> None:
        self.clock = clock
        self.alert = alert
        self.loops: dict[str, LoopHealth] = {}

    def health(self, name: str, interval_s: float) -> LoopHealth:
        h = self.loops.get(name)
        if h is None:
            h = self.loops[name] = LoopHealth(name, interval_s, self.clock.now())
        return h

    def problems(self) -> dict[str, str]:
        now = self.clock.now()
        return {n: p for n, h in self.loops.items() if (p := h.problem(now)) is not None}

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now()
        return {n: h.as_json(now) for n, h in self.loops.items()}

    async def loop(self, name: str, step: Callable[[], Awaitable[Any]], stop: asyncio.Event, every_s: float,
                   *, wake: asyncio.Event | None = None) -> None:
        """Run ``step`` every ``every_s`` seconds (sooner when ``wake`` is set) until ``stop`` is set."""
        h = self.health(name, every_s)
        h.running = True
        try:
            while not stop.is_set():
                if wake is not None:
                    wake.clear()       # before the pass: a wake-up during it asks for the next pass at once
                if await self.run_pass(h, step):
                    await _wait(stop, every_s, wake)
                else:
                    await _wait(stop, backoff(h.failures))
        finally:
            h.running = False

    async def run_pass(self, h: LoopHealth, step: Callable[[], Awaitable[Any]]) -> bool:
        """One pass, its success or failure recorded; True when it succeeded."""
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._failed(h, exc)
            return False
        await self._succeeded(h)
        return True

    async def _failed(self, h: LoopHealth, exc: Exception) -> None:
        now = self.clock.now()
        h.failures += 1
        h.last_error = f"{type(exc).__name__}: {exc}"[:300]
        h.last_error_at = now
        h.failing_since = h.failing_since or now
        log.error("loop %s failed (%d in a row), retrying in %.1f s: %s", h.name, h.failures, backoff(h.failures),
                  h.last_error, exc_info=exc)
        if h.failures >= ALERT_AFTER_FAILURES and not h.alerted:
            h.alerted = await self._tell(
                h.name, f"后台任务 {h.name} 连续 {h.failures} 次运行失败，正在自动重试：{h.last_error}")

    async def _succeeded(self, h: LoopHealth) -> None:
        now = self.clock.now()
        if h.failures:
            took = (now - h.failing_since).total_seconds() if h.failing_since else 0.0
            log.warning("loop %s recovered after %d failed passes (%.0f s)", h.name, h.failures, took)
            if h.alerted or h.failures >= ALERT_AFTER_FAILURES:
                await self._tell(
                    h.name, f"后台任务 {h.name} 已恢复（此前连续失败 {h.failures} 次，历时 {took:.0f} 秒）")
        h.last_ok = now
        h.failures = 0
        h.failing_since = None
        h.alerted = False

    async def _tell(self, name: str, message: str) -> bool:
        if self.alert is None:
            return False
        try:
            await self.alert(f"loop:{name}", message)
        except Exception as exc:     # the store may be what is failing; the log line above already told
            log.warning("could not record the alert for loop %s: %s", name, exc)
            return False
        return True


def backoff(failures: int) -> float:
    return min(BACKOFF_BASE_S * 2 ** max(failures - 1, 0), BACKOFF_CAP_S)


async def _wait(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    """Until ``stop`` or ``wake`` is set, or ``seconds`` have passed."""
    if wake is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return
    stop_wait = asyncio.ensure_future(stop.wait())
    wake_wait = asyncio.ensure_future(wake.wait())
    await asyncio.wait({stop_wait, wake_wait}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for fut in (stop_wait, wake_wait):
        fut.cancel()
