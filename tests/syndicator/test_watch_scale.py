"""Watching many pages on a few hosts: a fetch waiting for its host's turn is not timed out by the
wait, politeness (slots, gap, Retry-After) holds per host, the scheduler keeps a bounded number of
polls and spreads a burst, and a failing host raises one alert, not one per source.

Loop time is fast-forwarded by looptime where a test waits (``@pytest.mark.looptime``: the event
loop's clock jumps to its next timer when nothing else can run), so minutes of queueing take no wall
time; the hub's own clock is a FakeClock as everywhere.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from core.clock import FakeClock
from core.deadline import Deadline
from core.fetch import FetchError, FetchResult
from core.host_limits import HostLimits, Politeness
from feeds.reader import SourceReader
from syndicator.app import Hub
from syndicator.host_health import host_level
from syndicator.poll_schedule import Planned, PollSchedule, spread_fraction
from tests.hub_support import hub_settings

HOST = "www.gov.cn"


def rss(url: str, n: int = 1) -> FetchResult:
    items = "".join(f"<item><title>国务院关于第{k}项工作的通知</title><link>https://{HOST}/c/{k}.htm</link>"
                    f"<guid>c{k}</guid><description>正文{k}</description></item>" for k in range(n))
    text = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    return FetchResult(url=url, status=200, body=text.encode(), text=text, encoding="utf-8",
                       content_type="application/rss+xml")


class PoliteUpstream:
    """A PageFetcher that, like core.fetch.Fetcher, holds its host's slot for the request only; each
    request takes ``seconds`` of loop time; answers per host: a FetchResult factory or an exception."""

    def __init__(self, limits: HostLimits, seconds: float) -> None:
        self.limits = limits
        self.seconds = seconds
        self.answers: dict[str, Any] = {}
        self.starts: list[tuple[str, float]] = []
        self.hits: Counter[str] = Counter()

    async def fetch(self, url: str, **_: Any) -> FetchResult:
        host = urlsplit(url).hostname or ""
        async with self.limits.hold(host):
            self.starts.append((url, asyncio.get_running_loop().time()))
            self.hits[host] += 1
            answer = self.answers.get(host, rss)
            if answer == "hang":
                await asyncio.Event().wait()
            await asyncio.sleep(self.seconds)
            if isinstance(answer, Exception):
                raise answer
            return answer(url)


def source(n: int, host: str = HOST, interval: float = 60) -> dict[str, Any]:
    return {"id": f"s{n:03d}", "name": f"栏目{n}", "kind": "rss", "url": f"https://{host}/col/{n}.xml",
            "interval": interval}


async def start_hub(tmp_path: Path, clock: FakeClock, sources: list[dict[str, Any]], seconds: float,
                    **fetch: Any) -> tuple[Hub, PoliteUpstream]:
    settings = hub_settings(tmp_path, sources=sources, units=[], tick_seconds=0.5)
    for name, value in fetch.items():
        setattr(settings.fetch, name, value)
    hub = Hub(settings, clock=clock)
    await hub.__aenter__()
    upstream = PoliteUpstream(HostLimits(settings.fetch.per_host_concurrency), seconds)
    hub.watcher.reader = SourceReader(upstream)
    return hub, upstream


def record_alerts(hub: Hub) -> list[tuple[str, str]]:
    alerts: list[tuple[str, str]] = []

    async def alert(subject: str, message: str) -> None:
        alerts.append((subject, message))

    hub.watcher.alert = alert
    hub.watcher.hosts.alert = alert
    return alerts


# ---------------------------------------------------------------- the deadline does not run while queued


@pytest.mark.looptime
async def test_a_queued_fetch_is_not_timed_out_by_its_wait(tmp_path: Path, clock: FakeClock) -> None:
    # One slot on the host; each request takes 25 s of a 30 s budget (timeout 10 s: 2 × 10 + 10). The
    # scheduler lets two polls at the host at once, so each but the first waits 25 s in the host's queue:
    # counted from when it was queued, 25 + 25 s would have failed it.
    hub, upstream = await start_hub(tmp_path, clock, [source(n) for n in range(4)], 25.0,
                                    timeout_seconds=10, per_host_concurrency=1, spread_seconds=0)
    try:
        assert hub.watcher.fetch_budget(hub.settings.sources[0]) == 30
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await hub.watcher.run_due() == 4
        assert [round(t - t0) for _u, t in upstream.starts] == [0, 25, 50, 75]   # one at a time, in turn
        for n in range(4):
            health = await hub.store.source_health(f"s{n:03d}")
            assert health.consecutive_errors == 0 and health.last_error is None, health.last_error
    finally:
        await hub.__aexit__(None, None, None)


@pytest.mark.looptime
async def test_a_request_slower_than_its_budget_still_fails(tmp_path: Path, clock: FakeClock) -> None:
    hub, _upstream = await start_hub(tmp_path, clock, [source(n) for n in range(2)], 35.0,
                                     timeout_seconds=10, per_host_concurrency=1, spread_seconds=0)
    try:
        await hub.watcher.run_due()
        for n in range(2):                     # the second waited 30 s, then ran out of its own 30 s
            health = await hub.store.source_health(f"s{n:03d}")
            assert health.consecutive_errors == 1 and "超过时限（30 秒）" in (health.last_error or "")
    finally:
        await hub.__aexit__(None, None, None)


@pytest.mark.looptime
async def test_deadline_pauses_only_for_the_wait() -> None:
    limits = HostLimits(1)
    loop = asyncio.get_running_loop()

    async def hold_for(seconds: float) -> None:
        async with limits.hold(HOST):
            await asyncio.sleep(seconds)

    first = asyncio.create_task(hold_for(100))
    await asyncio.sleep(0)
    t0 = loop.time()
    async with Deadline(10) as deadline:
        await hold_for(9)                      # 100 s queued, then 9 s of its own: within 10
    assert deadline.queued_seconds == pytest.approx(100) and loop.time() - t0 == pytest.approx(109)
    await first
    with pytest.raises(TimeoutError):
        async with Deadline(10):
            await hold_for(11)


# ---------------------------------------------------------------- politeness per host


@pytest.mark.looptime
async def test_min_gap_and_retry_after_hold_for_the_whole_host_only() -> None:
    limits = HostLimits(2, hosts={"slow.gov.cn": Politeness(2, 5.0)}, max_block=600)
    loop = asyncio.get_running_loop()
    starts: dict[str, list[float]] = {}

    async def request(host: str) -> None:
        async with limits.hold(host):
            starts.setdefault(host, []).append(round(loop.time() - t0))

    t0 = loop.time()
    await asyncio.gather(*(request("slow.gov.cn") for _ in range(4)), *(request(HOST) for _ in range(4)))
    assert starts["slow.gov.cn"] == [0, 5, 10, 15]            # its own gap, two slots notwithstanding
    assert starts[HOST] == [0, 0, 0, 0]                        # another host is not slowed
    limits.block(HOST, 120)                                    # a 429/503 with Retry-After: 120
    limits.block("busy.gov.cn", 10**9)                         # a year-long one is capped
    assert limits.blocked_for("busy.gov.cn") == pytest.approx(600)
    starts.clear()
    t0 = loop.time()
    await asyncio.gather(request(HOST), request("other.gov.cn"))
    assert starts == {HOST: [120], "other.gov.cn": [0]}


async def test_a_retry_after_answer_pauses_the_fetchers_host(serve) -> None:
    import aiohttp

    from core.fetch import Fetcher

    async def busy(_request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "90"})

    app = web.Application()
    app.router.add_get("/x", busy)
    base = await serve(app)
    async with aiohttp.ClientSession() as session:
        fetcher = Fetcher(session, user_agent="t", timeout=5)
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(f"{base}/x")
    assert caught.value.status == 429 and caught.value.retry_after == 90
    assert fetcher.host_limits.blocked_for("127.0.0.1") == pytest.approx(90, abs=2)
    assert fetcher.host_limits.blocked_for("localhost") == 0


# ---------------------------------------------------------------- the scheduler: bounded, per host, spread


def test_schedule_bounds_polls_per_host_and_in_total(clock: FakeClock) -> None:
    schedule = PollSchedule(lambda host: 4 if host == "a" else 2, total=5, spread_seconds=0)
    now = clock.now()
    for n in range(100):
        schedule.set(f"a{n}", "a", now - timedelta(seconds=100 - n))
    for n in range(3):
        schedule.set(f"b{n}", "b", now)
    first = schedule.take(now)
    assert [s for s, _h, _d in first] == ["a0", "a1", "a2", "a3", "b0"]        # earliest first, 4 + 1 = 5
    assert schedule.take(now) == []                                            # nothing more until one ends
    schedule.done("a0", "a", now + timedelta(seconds=60))
    assert [s for s, _h, _d in schedule.take(now)] == ["a4"]
    schedule.done("b0", "b", now + timedelta(seconds=60))                      # host a is stuck: b goes on
    assert [s for s, _h, _d in schedule.take(now)] == ["b1"]
    assert len(schedule) == 100 + 3 - 5                                        # waiting in the index


def test_a_burst_is_spread_stably_and_a_lone_source_is_not(clock: FakeClock) -> None:
    now = clock.now()
    burst = [Planned(f"s{n}", "a", 300.0) for n in range(1000)]
    lone = [Planned("t0", "b", 300.0)]
    one, two = (PollSchedule(lambda _h: 4, total=64, spread_seconds=120) for _ in range(2))
    stored = {"s1": now + timedelta(seconds=30), "s2": now - timedelta(hours=1)}   # s1 not due, s2 overdue
    one.load(burst + lone, stored, now)
    two.load(burst + lone, stored, now)
    assert one._due == two._due                                                # the same after a restart
    offsets = [one._due[f"s{n}"] - now.timestamp() for n in range(1000) if n != 1]
    assert 0 <= min(offsets) < 1 and 119 < max(offsets) < 120                  # over min(interval, 120 s)
    assert one._due["s1"] == (now + timedelta(seconds=30)).timestamp()         # a stored future time stands
    assert one._due["t0"] == now.timestamp()                                    # one source: due now
    assert 0 <= spread_fraction("s1") < 1 and spread_fraction("s1") == spread_fraction("s1")


async def test_the_watcher_keeps_a_bounded_number_of_polls(tmp_path: Path, clock: FakeClock) -> None:
    hub, upstream = await start_hub(tmp_path, clock, [source(n) for n in range(40)], 0.0,
                                    polls_in_flight=3, spread_seconds=0)
    try:
        upstream.answers[HOST] = "hang"
        started = await hub.watcher.start_due()
        assert len(started) == 3 and not await hub.watcher.start_due()
        for task in started:
            task.cancel()
        await asyncio.gather(*started, return_exceptions=True)
    finally:
        await hub.__aexit__(None, None, None)


@pytest.mark.looptime
async def test_a_hanging_host_slows_only_its_own_queue(tmp_path: Path, clock: FakeClock) -> None:
    sources = [source(n) for n in range(6)] + [source(n, host="www.hubei.gov.cn") for n in range(6, 12)]
    hub, upstream = await start_hub(tmp_path, clock, sources, 1.0, timeout_seconds=10, spread_seconds=0)
    try:
        upstream.answers[HOST] = "hang"
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await hub.watcher.run_due()
        healthy = [await hub.store.source_health(f"s{n:03d}") for n in range(6, 12)]
        assert all(h.consecutive_errors == 0 for h in healthy)
        hung = [await hub.store.source_health(f"s{n:03d}") for n in range(6)]
        assert all(h.consecutive_errors == 1 and "超过时限" in (h.last_error or "") for h in hung)
        hung = sorted(t - t0 for u, t in upstream.starts if urlsplit(u).hostname == HOST)
        # 6 polls through 2 slots, each cut at its own 30 s budget counted from its slot (not from its
        # place in the queue): a pair every 30 s, ~90 s in all, not 6 × 30 s. (Under heavy CPU load
        # looptime can skip ahead while a database thread works, so the total is bounded, not pinned.)
        assert len(hung) == 6 and all(hung[k + 2] - hung[k] >= 29 for k in range(4))
        assert loop.time() - t0 < 5 * 30
    finally:
        await hub.__aexit__(None, None, None)


# ---------------------------------------------------------------- one alert per host


def test_which_failures_are_the_hosts() -> None:
    url = f"https://{HOST}/"
    assert host_level(FetchError("refused", url=url))
    assert host_level(FetchError("503", url=url, status=503)) and host_level(FetchError("429", url=url, status=429))
    assert not host_level(FetchError("404", url=url, status=404))
    assert not host_level(ValueError("layout changed"))


async def until_all_due(hub: Hub, clock: FakeClock) -> None:
    """Move the clock to the latest next check (no later: a poll started late reports its host lagging)."""
    schedule = await hub.store.source_schedule()
    clock.set(max(when for when in schedule.values() if when is not None))


def fail(upstream: PoliteUpstream) -> None:
    """www.gov.cn answers 503 to everything; one page on www.hubei.gov.cn is gone (404)."""
    upstream.answers[HOST] = FetchError(f"https://{HOST}/: HTTP 503", url=f"https://{HOST}/", status=503)
    upstream.answers["www.hubei.gov.cn"] = FetchError("https://www.hubei.gov.cn/col/5.xml: HTTP 404",
                                                      url="https://www.hubei.gov.cn/col/5.xml", status=404)


@pytest.mark.looptime
async def test_a_failing_host_raises_one_alert_and_one_recovery(tmp_path: Path, clock: FakeClock) -> None:
    sources = [source(n) for n in range(5)] + [source(5, host="www.hubei.gov.cn")]
    hub, upstream = await start_hub(tmp_path, clock, sources, 0.0, spread_seconds=0, alert_after_seconds=600)
    alerts = record_alerts(hub)
    try:
        fail(upstream)
        for _ in range(10):                    # polls at 0, 130, 260, 520, 1040 s: failing > 600 s
            await hub.watcher.run_due()
            clock.advance(seconds=130)
        subjects = Counter(subject for subject, _m in alerts)
        assert subjects == {f"host:{HOST}": 1, "s005": 1}, alerts    # the host once; the 404 page on its own
        (message,) = [m for s, m in alerts if s == f"host:{HOST}"]
        assert "站点持续异常" in message and "5 个来源" in message and "HTTP 503" in message
        assert hub.watcher.hosts.problems() == {HOST: 5}
        for n in range(5):                     # every source still shows its own failure
            assert (await hub.store.source_health(f"s{n:03d}")).consecutive_errors >= 4

        # A restart in the outage neither repeats the host alert nor lets each source alert.
        await hub.__aexit__(None, None, None)
        hub, upstream = await start_hub(tmp_path, clock, sources, 0.0, spread_seconds=0, alert_after_seconds=600)
        alerts = record_alerts(hub)
        fail(upstream)
        await until_all_due(hub, clock)
        await hub.watcher.run_due()
        assert not alerts

        del upstream.answers[HOST]             # the host is back
        await until_all_due(hub, clock)
        await hub.watcher.run_due()
        assert alerts == [(f"host:{HOST}", f"站点恢复正常：{HOST} 上的来源已能正常读取")]
    finally:
        await hub.__aexit__(None, None, None)


async def test_a_host_too_slow_for_its_sources_is_reported_once(tmp_path: Path, clock: FakeClock) -> None:
    hub, _upstream = await start_hub(tmp_path, clock, [source(n) for n in range(3)], 0.0, spread_seconds=0)
    alerts = record_alerts(hub)
    try:
        await hub.watcher.run_due()
        clock.advance(seconds=2000)            # the three polls start ~32 minutes after they were due
        await hub.watcher.run_due()
        (subject, message), = alerts
        assert subject == f"host:{HOST}" and message.startswith(f"站点轮询跟不上：{HOST} 的来源比计划晚 32 分钟")
        clock.advance(seconds=61)              # back on time
        await hub.watcher.run_due()
        assert alerts[1:] == [(f"host:{HOST}", f"站点轮询已跟上：{HOST} 的来源已能按时读取")]
    finally:
        await hub.__aexit__(None, None, None)
