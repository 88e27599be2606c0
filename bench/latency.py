"""Latency: upstream publishes at random times; how long until every unit's every channel has it?

    python bench/latency.py                          # 5 s polls, 20 items over 60 s, 50 units x 4 channels
    python bench/latency.py --interval 10 --duration 120 --items 20 --units 100

A real Hub (``Hub.run``: watcher, dispatcher, delay monitor, web server; system clock, default
tick_seconds = 1) polls the sandbox's State Council feed every ``--interval`` seconds (the smallest
interval the config allows is 5 s) and fans each item out to ``--units`` units x (webhook, static
export, CMS, JPush) through the sandbox, which runs in its own process. A publisher posts items to
the sandbox upstream at uniformly random moments within ``--duration`` seconds.

Latency = (last delivered_at of the item's deliveries) - (moment the sandbox accepted the publish).
Split into detection (item detected_at - publish) and fan-out (last delivered_at - detected_at).
The baseline is the poll interval itself: a poller that costs nothing and sends instantly would show
latencies uniform in [0, interval] (p50 0.50, p95 0.95, max -> 1.00 of the interval).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import _common
import aiohttp
from _common import article_html, city_units, demo_sandbox_options, fmt, hub_settings, percentile, rss_source

KINDS = ("webhook", "static", "cms", "push")


async def publisher(session: aiohttp.ClientSession, upstream: str, offsets: list[float], t0: float,
                    published: dict[str, float], body_chars: int) -> None:
    rng = random.Random(5)
    for n, offset in enumerate(offsets):
        await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))
        title = f"国务院办公厅关于时效测试事项的通知（第{n + 1}号）"
        before = time.time()
        await _common.sandbox_post(session, upstream + "/_sandbox/publish",
                                   {"title": title, "body": article_html(rng, body_chars)})
        published[title] = (before + time.time()) / 2


async def progress(hub: Any) -> list[dict[str, Any]]:
    from syndicator.store.db import as_datetime

    rows = await hub.store.db.fetch(
        "SELECT i.title, i.detected_at, COUNT(*) AS n,"
        " SUM(CASE WHEN d.state = 'delivered' THEN 1 ELSE 0 END) AS done, MAX(d.delivered_at) AS last"
        " FROM items i JOIN deliveries d ON d.item_id = i.id GROUP BY i.id, i.title, i.detected_at")
    return [{"title": r["title"], "detected": as_datetime(r["detected_at"]), "n": r["n"], "done": r["done"],
             "last": as_datetime(r["last"])} for r in rows]


async def run(args: argparse.Namespace) -> None:
    _common.print_facts()
    rng = random.Random(args.seed)
    offsets = sorted(rng.uniform(0, args.duration) for _ in range(args.items))
    per_item = args.units * len(KINDS)
    print(f"# latency: poll interval {args.interval:g} s, {args.items} items at random moments over "
          f"{args.duration:g} s, {args.units} units x {len(KINDS)} channels = {per_item} deliveries per item; "
          "sandbox in its own process", flush=True)
    published: dict[str, float] = {}
    async with _common.sandbox_process(demo_sandbox_options()) as box, aiohttp.ClientSession() as session:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
            base = Path(tmp)
            from syndicator.app import Hub

            settings = hub_settings(
                base, sources=[rss_source("gwy", box.urls["upstream"] + "/rss/gwy.xml", interval=args.interval)],
                units=city_units(args.units, KINDS, box.urls, base / "site"))
            async with Hub(settings) as hub:
                stop = asyncio.Event()
                runner = asyncio.create_task(hub.run(stop))
                t0 = time.monotonic()
                pub = asyncio.create_task(publisher(session, box.urls["upstream"], offsets, t0, published,
                                                    args.body_chars))
                give_up = t0 + args.duration + 6 * args.interval + 30
                rows: list[dict[str, Any]] = []
                try:
                    while time.monotonic() < give_up:
                        await asyncio.sleep(0.5)
                        if runner.done():
                            break
                        rows = await progress(hub)
                        if pub.done() and len(rows) >= args.items and all(r["done"] == r["n"] for r in rows):
                            break
                finally:
                    stop.set()
                    pub.cancel()
                    await asyncio.gather(pub, return_exceptions=True)
                    outcome = (await asyncio.gather(runner, return_exceptions=True))[0]
                if isinstance(outcome, BaseException):
                    print(f"  hub.run ended with {outcome!r}")
                counts = await hub.store.state_counts()
    report(args, rows, published, counts)


def report(args: argparse.Namespace, rows: list[dict[str, Any]], published: dict[str, float],
           counts: dict[str, int]) -> None:
    total, detect, fan = [], [], []
    for r in rows:
        at = published.get(r["title"])
        if at is None or r["done"] != r["n"] or r["last"] is None or r["detected"] is None:
            continue
        last, detected = r["last"].timestamp(), r["detected"].timestamp()
        total.append(last - at)
        detect.append(detected - at)
        fan.append(last - detected)
    print(f"  items published {len(published)}, detected {len(rows)}, fully delivered {len(total)}; "
          f"deliveries by state {counts}")
    if not total:
        print("RESULT latency: no item was fully delivered")
        return
    iv = args.interval
    for name, values in (("publish -> all delivered", total), ("  detection (publish -> detected)", detect),
                         ("  fan-out (detected -> last delivered)", fan)):
        p50, p95, top = percentile(values, 50), percentile(values, 95), max(values)
        print(f"  {name:40} p50 {fmt(p50)} s ({p50 / iv:.2f} x interval)  p95 {fmt(p95)} s ({p95 / iv:.2f} x)  "
              f"max {fmt(top)} s ({top / iv:.2f} x)")
    p50, p95, top = percentile(total, 50), percentile(total, 95), max(total)
    print(f"RESULT latency publish->delivered-to-all / poll interval ({iv:g} s): p50 {p50 / iv:.2f}, "
          f"p95 {p95 / iv:.2f}, max {top / iv:.2f} (zero-cost poller: 0.50 / 0.95 / <=1.00); "
          f"n={len(total)} items x {args.units * len(KINDS)} deliveries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=5, help="poll interval in seconds (config minimum 5)")
    parser.add_argument("--duration", type=float, default=60, help="publish window in seconds")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--body-chars", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2026)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
