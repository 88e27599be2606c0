"""Polling cost: 2,000 sources of which 95% are unchanged, against the sandbox upstream.

    python bench/poll.py                      # 2,000 sources, 3 measured rounds (ours), 1 (naive)
    python bench/poll.py --sources 500 --docs 10 --profile /tmp/poll.prof
    python bench/poll.py --sources 6000 --hosts 20 --rounds 1 --naive-rounds 0   # scale: no baseline

Sources (on the sandbox upstream, distinct URLs by query string; with ``--hosts N`` source i is on
127.0.0.{1 + i mod N}, each address a host of its own to the hub and its per-host limits):
  5%      /rss/province.xml?s=i   GBK feed with ETag; a new document is published before every round,
                                  so these answer 200 with a changed body (parse + intake of every entry)
  47.5%   /rss/gwy.xml?s=i        unchanged, with ETag/Last-Modified: the conditional GET answers 304
  47.5%   /plain/gwy.xml?s=i      unchanged, no validators: full body, skipped by the body-hash check
Each feed carries ``--docs`` State Council-like documents (Chinese HTML bodies with tables and images).

Ours: the real path, a Hub (SQLite store, FakeClock moved past the interval so every source is due)
and ``Watcher.run_due()`` (the scheduler: polls pulled host by host, a bounded number at once) ->
``SourceReader.read`` (conditional GET, skip on 304 or same body hash, parse_feed(fast=True) in a
thread) -> intake/ingest for changed feeds -> source health saved. Round 0 (every source new) primes
the store and is reported, not compared. Each round reports the sources failing after it (any is a
false failure: the sandbox never fails), the peak RSS so far, and requests per host per second.
Naive baseline: a watcher that always downloads every source and parses it with feedparser's defaults
(sanitize_html, resolve_relative_uris), then checks entry ids against an in-memory set (no database).
Both use the same per-host concurrency. CPU = time.process_time() of this process over the round
(all its threads: event loop, parse threads, aiosqlite); the sandbox runs in another process and its
CPU is reported separately.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import _common
import aiohttp
import feedparser
from _common import article_html, doc_title, fmt, hub_settings, maybe_profile, sandbox_post

INTERVAL = 300


def upstreams(box: _common.SandboxProcess, hosts: int) -> list[str]:
    return [box.urls["upstream"]] + [box.urls[f"upstream.{k}"] for k in range(1, hosts)]


def source_urls(n: int, hosts: list[str], changed_share: float) -> list[tuple[str, str]]:
    """(source id, url) for n sources: the changed share first, then alternately 304 and same-body;
    source i on host i mod len(hosts)."""
    changed = round(n * changed_share)
    out = []
    for i in range(n):
        upstream = hosts[i % len(hosts)]
        if i < changed:
            url = f"{upstream}/rss/province.xml?s={i}"
        elif i % 2:
            url = f"{upstream}/rss/gwy.xml?s={i}"
        else:
            url = f"{upstream}/plain/gwy.xml?s={i}"
        out.append((f"s{i:05d}", url))
    return out


async def seed(session: aiohttp.ClientSession, upstream: str, docs: int, body_chars: int) -> None:
    rng = random.Random(11)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=docs)
    for n in range(docs):
        await sandbox_post(session, upstream + "/_sandbox/publish", {
            "title": doc_title(rng, n + 1), "body": article_html(rng, body_chars),
            "feeds": ["gwy", "province"], "published_at": (start + timedelta(days=n)).isoformat()})


async def publish_change(session: aiohttp.ClientSession, upstream: str, n: int, body_chars: int) -> None:
    rng = random.Random(1000 + n)
    await sandbox_post(session, upstream + "/_sandbox/publish", {
        "title": f"湖北省人民政府办公厅关于{doc_title(rng, 500 + n)}", "body": article_html(rng, body_chars),
        "feeds": ["province"]})


class ReadCounter:
    """Wraps SourceReader.read to count what each poll found, and the HTTP fetcher to count requests
    per host (measurement only)."""

    def __init__(self, reader: Any) -> None:
        self.orig = reader.read
        self.orig_fetch = reader.http.fetch
        self.counts: dict[str, int] = {}
        self.requests: Counter[str] = Counter()
        reader.read = self.read
        reader.http.fetch = self.fetch

    async def read(self, source: Any, **kwargs: Any) -> Any:
        result = await self.orig(source, **kwargs)
        kind = "changed" if result.changed else ("304" if result.fetch.status == 304 else "same-body")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return result

    async def fetch(self, url: str, **kwargs: Any) -> Any:
        self.requests[urlsplit(url).hostname or ""] += 1
        return await self.orig_fetch(url, **kwargs)

    def per_host_rate(self, wall: float) -> str:
        rates = sorted(n / wall for n in self.requests.values()) if wall > 0 else []
        if not rates:
            return "none"
        return f"{len(rates)} host(s), min {fmt(rates[0], 1)} / max {fmt(rates[-1], 1)} per s"


async def ours(args: argparse.Namespace, box: _common.SandboxProcess, session: aiohttp.ClientSession,
               base: Path) -> list[dict[str, Any]]:
    from core.clock import FakeClock
    from syndicator.app import Hub

    upstream = box.urls["upstream"]
    sources = [{"id": sid, "name": sid, "kind": "rss", "url": url, "interval": INTERVAL,
                "authority": "国务院办公厅", "origin": "中国政府网"}
               for sid, url in source_urls(args.sources, upstreams(box, args.hosts), args.changed)]
    settings = hub_settings(base, sources=sources, units=[], fetch={"per_host_concurrency": args.per_host})
    clock = FakeClock(datetime.now(UTC))
    rounds: list[dict[str, Any]] = []
    async with Hub(settings, clock=clock) as hub:
        counter = ReadCounter(hub.reader)
        await hub.watcher.schedule()        # indexed now: every source is due once the clock passes the interval
        for r in range(args.rounds + 2):
            idle = r == args.rounds + 1     # a last round in which nothing changed upstream
            if r and not idle:
                await publish_change(session, upstream, r, args.body_chars)
            clock.advance(seconds=INTERVAL + 1)
            counter.counts = {}
            counter.requests.clear()
            sb0 = box.cpu_seconds()
            threads0 = _common.thread_cpu()
            t0, c0 = time.perf_counter(), time.process_time()
            profile = args.profile and (args.profile + (".idle" if idle else "") if r >= args.rounds else None)
            with maybe_profile(profile):
                polled = await hub.watcher.run_due()
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            threads = _common.thread_cpu_delta(threads0, _common.thread_cpu())
            failing = await hub.store.db.fetchval("SELECT COUNT(*) FROM sources WHERE consecutive_errors > 0")
            items = await hub.store.db.fetchval("SELECT COUNT(*) FROM items")
            rounds.append({"round": r, "cpu": cpu, "wall": wall, "sandbox_cpu": box.cpu_seconds() - sb0,
                           "polled": polled, "found": dict(counter.counts), "failing": failing,
                           "items": items, "peak_rss_mb": _common.peak_rss_mb()})
            label = "priming (all new)" if r == 0 else ("idle (none changed)" if idle else f"round {r}")
            print(f"  ours  {label:18} polled {polled:,} {dict(sorted(counter.counts.items()))}; "
                  f"CPU {fmt(cpu)} s, wall {fmt(wall)} s, sandbox CPU {fmt(rounds[-1]['sandbox_cpu'])} s; "
                  f"failing sources {failing}; items in store {items}; peak RSS so far "
                  f"{fmt(_common.peak_rss_mb(), 0)} MiB; requests per host per s: {counter.per_host_rate(wall)}; "
                  f"CPU by thread {threads}", flush=True)
        # What Watcher.run pays every tick (tick_seconds, default 1 s) while no source is due.
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(5):
            assert not await hub.watcher.start_due()
        tick_cpu, tick_wall = (time.process_time() - c0) / 5, (time.perf_counter() - t0) / 5
        print(f"  ours: a scheduler tick with nothing due (Watcher.start_due over {args.sources:,} sources) costs "
              f"{fmt(1000 * tick_cpu, 1)} ms CPU, {fmt(1000 * tick_wall, 1)} ms wall; Watcher.run ticks every "
              f"{settings.hub.tick_seconds:g} s, i.e. {100 * tick_cpu / settings.hub.tick_seconds:.0f}% of a core "
              "while idle", flush=True)
        print(f"  ours: store holds {items} items from {args.sources:,} sources "
              f"({_common.sqlite_bytes(base / 'hub.db')['db']:,} B)")
    return rounds


async def naive(args: argparse.Namespace, box: _common.SandboxProcess,
                session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    urls = [url for _sid, url in source_urls(args.sources, upstreams(box, args.hosts), args.changed)]
    seen: set[str] = set()
    host_limits: dict[str, asyncio.Semaphore] = {}   # the same per-host concurrency as ours
    new = 0

    async def poll(url: str) -> None:
        nonlocal new
        limit = host_limits.setdefault(urlsplit(url).netloc, asyncio.Semaphore(args.per_host))
        async with limit, session.get(url, headers={"Accept-Encoding": "gzip, deflate"}) as resp:
            body = await resp.read()
            headers = {"content-type": resp.headers.get("Content-Type", ""), "content-location": url}
        parsed: Any = feedparser.parse(body, response_headers=headers)   # defaults: sanitize + resolve URIs
        for entry in parsed.entries:
            key = entry.get("id") or entry.get("link")
            if key not in seen:
                seen.add(key)
                new += 1

    rounds: list[dict[str, Any]] = []
    # No unmeasured "first round": the naive watcher keeps no state, so every round costs the same full
    # download and parse of every source; `seen` only counts the distinct documents the round met.
    for r in range(1, args.naive_rounds + 1):
        await publish_change(session, box.urls["upstream"], 100 + r, args.body_chars)
        new = 0
        seen.clear()
        sb0 = box.cpu_seconds()
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(poll(u) for u in urls))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        rounds.append({"round": r, "cpu": cpu, "wall": wall, "sandbox_cpu": box.cpu_seconds() - sb0, "new": new})
        label = f"round {r}"
        print(f"  naive {label:18} polled {len(urls):,}; distinct documents {new}; CPU {fmt(cpu)} s, "
              f"wall {fmt(wall)} s, sandbox CPU {fmt(rounds[-1]['sandbox_cpu'])} s", flush=True)
    return rounds


async def run(args: argparse.Namespace) -> None:
    _common.print_facts()
    async with _common.sandbox_process(plain_feeds=True, upstream_hosts=args.hosts) as box, aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64)) as session:
        await seed(session, box.urls["upstream"], args.docs, args.body_chars)
        sizes = {}
        for path in ("/rss/gwy.xml", "/rss/province.xml"):
            async with session.get(box.urls["upstream"] + path) as resp:
                sizes[path] = len(await resp.read())
        print(f"# poll: {args.sources:,} sources on {args.hosts} host(s), {args.changed:.0%} changed per round, "
              f"{args.docs} documents per feed of ~{args.body_chars} chars; feed sizes {sizes} bytes; per-host "
              f"concurrency {args.per_host}; sandbox in its own process", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
            our_rounds = await ours(args, box, session, Path(tmp))
        peak_ours = _common.peak_rss_mb()
        naive_rounds = await naive(args, box, session)
    idle_round = our_rounds.pop()
    measured = our_rounds[1:]
    ours_cpu = statistics.median(r["cpu"] for r in measured) if measured else idle_round["cpu"]
    per_source_ours = 1000 * ours_cpu / args.sources
    ours_wall = statistics.median(r["wall"] for r in measured) if measured else idle_round["wall"]
    failing = max(r["failing"] for r in [*our_rounds, idle_round])
    print(f"  => ours {fmt(ours_cpu)} CPU s/round ({fmt(per_source_ours)} ms/source), wall per round "
          f"{fmt(ours_wall)} s; failing sources at worst {failing} (first round {our_rounds[0]['failing']}); "
          f"peak RSS through ours' rounds {fmt(peak_ours, 0)} MiB")
    changed = round(args.sources * args.changed)
    if changed and measured:
        print(f"  => of ours' round, the {args.sources - changed:,} unchanged sources cost about "
              f"{fmt(1000 * idle_round['cpu'] / args.sources)} ms each (idle round: {fmt(idle_round['cpu'])} s), "
              f"the {changed} changed ones about {fmt(1000 * (ours_cpu - idle_round['cpu']) / changed)} ms each")
    if not naive_rounds:
        print(f"RESULT poll (no naive baseline): {fmt(per_source_ours)} CPU ms per source per round, "
              f"{failing} failing sources, peak RSS {fmt(peak_ours, 0)} MiB for {args.sources:,} sources on "
              f"{args.hosts} host(s)")
        return
    naive_cpu = statistics.median(r["cpu"] for r in naive_rounds)
    per_source_naive = 1000 * naive_cpu / args.sources
    naive_wall = statistics.median(r["wall"] for r in naive_rounds)
    print(f"  => naive {fmt(naive_cpu)} CPU s/round ({fmt(per_source_naive)} ms/source), wall per round "
          f"{fmt(naive_wall)} s")
    print(f"RESULT poll CPU per round ours/naive = {ours_cpu / naive_cpu:.3f} (target <= 0.1): ours "
          f"{fmt(ours_cpu)} s, naive {fmt(naive_cpu)} s for {args.sources:,} sources, {args.changed:.0%} changed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--changed", type=float, default=0.05, help="share of sources changed per round")
    parser.add_argument("--docs", type=int, default=20, help="documents per feed")
    parser.add_argument("--body-chars", type=int, default=400, help="characters of HTML per document body")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured rounds for ours (after priming; then one more with nothing changed)")
    parser.add_argument("--naive-rounds", type=int, default=1, help="measured rounds for the naive watcher")
    parser.add_argument("--per-host", type=int, default=2, help="requests in flight per host (product default 2)")
    parser.add_argument("--hosts", type=int, default=1, choices=range(1, 201), metavar="N",
                        help="spread the sources over N upstream hosts (loopback addresses, 1-200)")
    parser.add_argument("--profile", help="cProfile ours' last measured round into this file (and the idle round "
                                          "into FILE.idle)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
