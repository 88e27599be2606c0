"""`main.py demo`: the sandbox look-alikes plus a hub on the demo config, with some faults on,
so an operator sees detection, fan-out, retries, lost replies reconciled, a held account and
recovery within a minute."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from sandbox.common import Faults
from sandbox.server import Sandbox, demo_options, start_sandbox
from syndicator.app import Hub
from syndicator.config import Settings

log = logging.getLogger("syndicator.demo")

DEMO_TITLES = [
    "国务院办公厅关于进一步优化政务服务提升行政效能的意见",
    "国务院关于印发《2026年国务院立法工作计划》的通知",
    "国务院办公厅关于做好2027年元旦春节期间有关工作的通知",
    "国务院办公厅转发国家发展改革委关于促进民间投资若干措施的通知",
    "国务院关于加强数字政府建设的指导意见",
    "国务院办公厅关于全面实行行政许可事项清单管理的通知",
]


def demo_faults() -> dict[str, Faults]:
    """A little trouble on every platform, so retries and recovery are visible; and on the CMS, Weibo,
    WeChat and JPush some replies are lost after the post was made, so reconciliation is too: the CMS is
    asked by key, a WeChat submit is found among the publications, Weibo answers the resend "repeated
    content" (delivered once), and a blind JPush resend is recorded as a possible duplicate."""
    return {
        "webhook": Faults(error_rate=0.15, codes=[500, 503], seed=1),
        "weibo": Faults(error_rate=0.15, codes=[10023], drop_responses=1, drop_response_rate=0.05, seed=2),
        "wechat": Faults(token_expiry_after=12, error_rate=0.1, codes=[-1], drop_responses=1, seed=3),
        "jpush": Faults(error_rate=0.15, codes=[2002, 1000], drop_responses=1, seed=4),
        "cms": Faults(error_rate=0.15, codes=[500, 503], latency_after_ms=300, drop_responses=2,
                      drop_response_rate=0.1, seed=5),
    }


def hub_callback_url(settings: Settings) -> str | None:
    """Where the WeChat look-alike posts PUBLISHJOBFINISH events (the first WeChat account's route)."""
    first_wechat = next((a.id for _u, a in settings.accounts() if a.kind == "wechat"), None)
    hub_url = settings.web.public_url or f"http://{settings.web.host}:{settings.web.port}"
    return f"{hub_url}/wechat/callback/{first_wechat}" if first_wechat else None


def publish_next(box: Sandbox, n: int, not_before: datetime | None = None) -> None:
    """Publish demo document ``n``, dated 3 minutes ago but not before ``not_before`` (when the hub began
    watching: an earlier date would make it a baseline, syndicator.anchors; the first two are, on purpose)."""
    title = DEMO_TITLES[n % len(DEMO_TITLES)] + ("" if n < len(DEMO_TITLES) else f"（第{n // len(DEMO_TITLES) + 1}批）")
    # every third document also arrives through the provincial GBK feed: it must be delivered once
    feeds = {"gwy", "province"} if n % 3 == 0 else ({"gwy"} if n % 3 == 1 else {"province"})
    published = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    if not_before is not None:   # feeds carry whole seconds: round up, or it would fall just before tracking
        published = max(published, not_before.replace(microsecond=0) + timedelta(seconds=bool(not_before.microsecond)))
    doc = box.upstream.publish(title, feeds=feeds, published_at=published)
    log.info("upstream published #%d in %s: %s", doc.id, "+".join(sorted(feeds)), title)


async def _report(hub: Hub, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        counts = await hub.store.state_counts()
        log.info("deliveries by state: %s", ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none yet")


async def run_demo(settings: Settings, stop: asyncio.Event, *, publish_every: float, duration: float) -> int:
    box = await start_sandbox(faults=demo_faults(), options=demo_options(hub_callback_url(settings)))
    tasks: list[asyncio.Task[None]] = []
    try:
        for n in range(2):
            publish_next(box, n)
        async with Hub(settings) as hub:
            log.info("demo hub: %d units x %d accounts; dashboard at http://%s:%d/ (user demo, password "
                     "syndicator-demo); sandbox received lists at %s/_sandbox/received (and ports 8702-8706)",
                     len(settings.units), len(settings.accounts()), settings.web.host, settings.web.port,
                     box.url("webhook"))

            async def publisher() -> None:
                n = 2
                while True:
                    await asyncio.sleep(publish_every)
                    starts = [await hub.store.tracking_start(src.id) for src in settings.sources]
                    publish_next(box, n, max((t for t in starts if t is not None), default=None))
                    n += 1

            tasks = [asyncio.create_task(publisher()), asyncio.create_task(_report(hub, 10))]
            if duration:
                loop = asyncio.get_running_loop()
                loop.call_later(duration, stop.set)
            await hub.run(stop)
            counts = await hub.store.state_counts()
            log.info("demo finished; deliveries by state: %s", counts)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await box.close()
    return 0
