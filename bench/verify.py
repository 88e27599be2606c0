"""Live verification throughput and memory: the hub's verifier vs bare aiohttp GETs of the same pages.

    python bench/verify.py                  # 10,000 deliveries
    python bench/verify.py --n 2000 --concurrency 16

An in-process aiohttp server on 127.0.0.1 serves one reprint page per delivery (~6 KB, UTF-8, the title in
<title> and in the body). The store (SQLite in a temporary directory) holds N delivered reprints due for
verification, spread over 100 accounts. Two phases, each run twice (once timed, once under tracemalloc for
its peak Python allocation), in the same process:

  baseline   N bare ``session.get`` + ``read`` of the same URLs by ``concurrency`` workers
  verifier   syndicator.verify.worker.Verifier.drain(): claim from the store, fetch through core.fetch
             (size cap, strict charset decision), find the title, write the proof row and the new state

Both use the same concurrency; the verifier's per-host limit is set equal to it (every page is on one host).
Printed: deliveries/s and the ratio verifier/baseline; peak traced memory and the ratio; the highest number
of requests the server saw in flight (must not exceed the concurrency); peak RSS of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common
import aiohttp
from _common import fmt, peak_rss_mb
from aiohttp import web

from core.clock import FakeClock
from core.fetch import Fetcher
from syndicator.config import VerifySettings
from syndicator.store import open_store
from syndicator.verify.checkers import checker_for
from syndicator.verify.worker import Verifier

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
ACCOUNTS = 100


def title(i: int) -> str:
    return f"国务院办公厅关于印发《政务公开工作要点》的通知（第{i}号）"


class PageServer:
    """One page per delivery; counts requests in flight."""

    def __init__(self) -> None:
        self.in_flight = self.peak = self.served = 0
        filler = "<p>" + "各地区、各部门要认真贯彻落实，" * 120 + "</p>"
        self.template = ("<!doctype html><html><head><meta charset='utf-8'><title>{t} - 单位</title></head>"
                         "<body><h1>{t}</h1>" + filler + "</body></html>")

    async def page(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            i = int(request.match_info["n"])
            await asyncio.sleep(0)
            self.served += 1
            return web.Response(body=self.template.format(t=title(i)).encode(), content_type="text/html",
                                charset="utf-8")
        finally:
            self.in_flight -= 1


async def fill(store: Any, base: str, n: int) -> None:
    """N delivered reprints due for verification now (direct inserts: intake is not what is measured)."""
    db = store.db
    async with db.transaction() as tx:
        for start in range(0, n, 500):
            chunk = range(start, min(n, start + 500))
            await tx.execute(
                "INSERT INTO items (id, source_id, guid, url, canonical_url, title, content_hash, detected_at,"
                " anchor_at, anchor_kind) VALUES " + ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                *(v for i in chunk for v in (i + 1, "gwy", f"g{i}", f"https://www.gov.cn/{i}.htm",
                                             f"https://www.gov.cn/{i}.htm", title(i),
                                             hashlib.sha256(str(i).encode()).hexdigest(), NOW, NOW, "published")))
            await tx.execute(
                "INSERT INTO deliveries (item_id, unit_id, account_id, channel_kind, idempotency_key, state,"
                " deadline_at, delivered_at, external_id, external_url, created_at, updated_at, verify_state,"
                " verify_next_at) VALUES "
                + ",".join(["(?, ?, ?, ?, ?, 'delivered', ?, ?, ?, ?, ?, ?, 'pending', ?)"] * len(chunk)),
                *(v for i in chunk for v in (i + 1, f"u{i % ACCOUNTS}", f"a{i % ACCOUNTS}", "cms", f"k{i}",
                                             NOW + timedelta(days=1), NOW, str(i), f"{base}/p/{i}.html", NOW, NOW,
                                             NOW)))


async def baseline(base: str, n: int, concurrency: int) -> float:
    """``concurrency`` workers taking the next page number: the least a bounded fetcher can hold."""
    t0 = time.perf_counter()
    todo = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            for i in todo:
                async with session.get(f"{base}/p/{i}.html") as resp:
                    await resp.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


async def verifier(base: str, n: int, concurrency: int) -> float:
    """Seconds to verify N deliveries (filling the store is not counted)."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(NOW)
        store = await open_store(f"sqlite:///{Path(tmp) / 'hub.db'}", clock)
        try:
            await fill(store, base, n)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(64, concurrency))) as session:
                fetcher = Fetcher(session, user_agent="bench", timeout=20, max_bytes=5_000_000, per_host=concurrency)
                checkers = {f"a{a}": checker_for("cms", {}, None, fetcher) for a in range(ACCOUNTS)}
                settings = VerifySettings(concurrency=concurrency, per_host=concurrency)
                worker = Verifier(settings, store, checkers, clock)
                t0 = time.perf_counter()
                done = await worker.drain(rounds=1_000_000)
                elapsed = time.perf_counter() - t0
                verified = await store.db.fetchval("SELECT COUNT(*) FROM deliveries WHERE verify_state = 'verified'")
                proofs = await store.db.fetchval("SELECT COUNT(*) FROM verifications WHERE outcome = 'seen'")
                assert done == n and verified == n and proofs == n, (done, verified, proofs)
                return elapsed
        finally:
            await store.close()


async def timed(run: Callable[[], Awaitable[float]]) -> tuple[float, float]:
    """(wall seconds, peak traced MiB): one untraced run for time, one traced run for memory."""
    wall = await run()
    tracemalloc.start()
    tracemalloc.reset_peak()
    await run()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return wall, peak / 2**20


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    _common.print_facts()
    pages = PageServer()
    app = web.Application()
    app.router.add_get("/p/{n:\\d+}.html", pages.page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    try:
        n, c = args.n, args.concurrency
        b_wall, b_mem = await timed(lambda: baseline(base, n, c))
        v_wall, v_mem = await timed(lambda: verifier(base, n, c))
    finally:
        await runner.cleanup()
    b_rate, v_rate = n / b_wall, n / v_wall
    print(f"\n{n:,} deliveries, concurrency {c} (per-host {c}), one host")
    print(f"  baseline (bare GET + read): {fmt(b_rate, 0)}/s ({fmt(b_wall)} s), peak traced {fmt(b_mem, 1)} MiB")
    print(f"  verifier (claim, fetch, match, proof, state): {fmt(v_rate, 0)}/s ({fmt(v_wall)} s), "
          f"peak traced {fmt(v_mem, 1)} MiB")
    print(f"  throughput ratio verifier/baseline: {v_rate / b_rate:.2f}")
    print(f"  peak memory ratio verifier/baseline: {v_mem / b_mem:.2f}")
    print(f"  requests in flight at the server, at most: {pages.peak} (limit {c})")
    print(f"  peak RSS of the process: {fmt(peak_rss_mb(), 0)} MiB")


if __name__ == "__main__":
    asyncio.run(main())
