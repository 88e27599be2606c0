"""A host that fails is one problem, not one per page: a province platform serving 300 watched
columns that goes down must raise one alert, not 300.

A failure is host-level when the host did not answer usefully at all — no answer (connection
refused, reset, DNS, a timeout, the poll deadline), a 5xx, or 429 — as opposed to one page's trouble
(404, a layout change, a body too large, an article page). While two or more sources of a host are
failing at host level (or one, once the host has been reported), their own "source failing" alerts are
left out and the host raises one alert, after the same ``alert_after_seconds``, naming how many
sources it affects; when none of them is failing any more, one recovery notice follows. Each source
keeps its own health record (error, backoff) as before: the dashboard still shows every one.

Whether a host was reported survives a restart (the store's key-value), so a hub restarted in an
outage neither repeats the host alert nor lets every source alert on its own.

A host can also be too slow for its sources without failing: with its politeness limits it cannot
serve every source at its interval, and polls start later and later. When a poll starts more than
two intervals (and at least ``LAG_ALERT_SECONDS``) after it was due, the host is reported once as
lagging, and once more when it has caught up (under half an interval late).
"""

from __future__ import annotations

import logging
from datetime import datetime

from core.fetch import FetchError
from core.models import Alert
from syndicator.store.kv import StoreKeyValue

log = logging.getLogger(__name__)

MIN_SOURCES = 2          # failing together before the host, not the page, is the problem
LAG_ALERT_SECONDS = 600.0


def host_level(exc: BaseException) -> bool:
    """The host did not answer usefully (see the module docstring); one page's trouble is not."""
    if type(exc) is not FetchError:        # subclasses: browser missing, article pages — not the host
        return False
    return exc.status is None or exc.status >= 500 or exc.status == 429


class _Host:
    __slots__ = ("alerted", "failing", "lagging", "last_error", "loaded")

    def __init__(self) -> None:
        self.failing: dict[str, datetime] = {}     # source id -> failing since
        self.last_error = ""
        self.alerted = False
        self.loaded = False
        self.lagging = False


class HostHealth:
    def __init__(self, kv: StoreKeyValue, alert: Alert, alert_after_seconds: float) -> None:
        self.kv = kv
        self.alert = alert
        self.alert_after_seconds = alert_after_seconds
        self._hosts: dict[str, _Host] = {}

    def problems(self) -> dict[str, int]:
        """Hosts currently failing as hosts, with how many of their sources are failing."""
        return {h: len(s.failing) for h, s in self._hosts.items() if self._is_problem(s)}

    @staticmethod
    def _is_problem(state: _Host) -> bool:
        return len(state.failing) >= MIN_SOURCES or (state.alerted and bool(state.failing))

    async def _state(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:                    # one per host this hub watches: a handful to hundreds
            state = self._hosts[host] = _Host()
        if not state.loaded:
            state.alerted = bool(await self.kv.get(_key(host)))
            state.loaded = True
        return state

    async def failed(self, host: str, source_id: str, exc: BaseException, failing_since: datetime,
                     now: datetime) -> bool:
        """Record a source's failed poll; True when it is part of a host problem (the host alerts, the
        source does not)."""
        if not host_level(exc):
            await self.succeeded(host, source_id)        # the host answered: this one is the page's
            return False
        state = await self._state(host)
        state.failing[source_id] = failing_since
        state.last_error = str(exc) or type(exc).__name__
        if not self._is_problem(state):
            return False
        oldest = min(state.failing.values())
        failing_for = (now - oldest).total_seconds()
        if failing_for >= self.alert_after_seconds and not state.alerted:
            await self.alert(f"host:{host}", f"站点持续异常：{host} 上 {len(state.failing)} 个来源无法读取，"
                                             f"已持续 {failing_for / 3600:.1f} 小时（各来源不再逐一告警），"
                                             f"最近错误：{state.last_error}")
            state.alerted = True
            await self.kv.put(_key(host), "1")
        return True

    async def succeeded(self, host: str, source_id: str) -> None:
        state = await self._state(host)
        state.failing.pop(source_id, None)
        if state.alerted and not state.failing:
            await self.alert(f"host:{host}", f"站点恢复正常：{host} 上的来源已能正常读取")
            state.alerted = False
            await self.kv.put(_key(host), "")

    async def started(self, host: str, lag: float, interval: float) -> None:
        """A poll of one of ``host``'s sources started ``lag`` seconds after it was due."""
        state = self._hosts.get(host)
        if lag > max(2 * interval, LAG_ALERT_SECONDS) and not (state and state.lagging):
            state = await self._state(host)
            state.lagging = True
            await self.alert(f"host:{host}", f"站点轮询跟不上：{host} 的来源比计划晚 {lag / 60:.0f} 分钟才开始读取"
                                             f"（来源间隔 {interval:g} 秒）；请为该站点调高并发（[fetch.hosts]）"
                                             "或放宽其来源的间隔")
        elif state is not None and state.lagging and lag < interval / 2:
            state.lagging = False
            await self.alert(f"host:{host}", f"站点轮询已跟上：{host} 的来源已能按时读取")


def _key(host: str) -> str:
    return f"host_alerted:{host}"
