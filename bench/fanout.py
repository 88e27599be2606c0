"""Fan-out: one required item to N units x 4 channel accounts, through the sandbox.

    python bench/fanout.py                    # N = 100 and 1,000
    python bench/fanout.py --full             # also N = 10,000 (40,000 deliveries)
    python bench/fanout.py --units 1000 --profile /tmp/fanout.prof

Channels per unit (default): signed webhook, static export (temp directory), CMS REST, JPush, all
real channel classes talking to the sandbox look-alikes over 127.0.0.1.

Processes (2-core machine): the sandbox runs in its own process (``bench/_sandbox_child.py``, its
own event loop); each measured phase runs in a fresh child process so its peak RSS is its own:
  baseline  the same number of bare aiohttp POSTs (pre-built, validly signed bodies of the same
            size, accepted by the same endpoints) plus one atomic page write per static account,
            with the same concurrency (``--workers`` in flight, same connector limit as the hub);
  hub       a Hub built from Settings; one poll of the upstream feed detects the item and ingests
            N x 4 deliveries; then the real ``Dispatcher.run`` sends them until none is open.
Order per N: baseline, hub, baseline; the ratio uses the faster baseline (the machine's ceiling).
Rates: deliveries / (last delivered_at - dispatch start), i.e. the queue drain rate; ingest (feed
poll + one transaction writing N x 4 deliveries) is reported separately. Peak RSS is getrusage
ru_maxrss of the phase's process (VmHWM, includes the interpreter and imports). Store size is the
SQLite file after the hub closed it (WAL checkpointed), plus the WAL size seen while it was open.
The hub logs at INFO (main.py's default and set-up) into a file in the phase's temp directory. The hub phase
also counts claims (calls and time inside ``Dispatcher.capacity`` and ``Store.claim_due``, by
wrapping them on the instance) and reads per-thread CPU from /proc (event loop, aiosqlite thread,
asyncio.to_thread pool).

    --pg URL    use PostgreSQL (a temporary schema, dropped afterwards) instead of SQLite
    --hubs K    with --pg: K hub processes share the work (the first polls and ingests; the others only
                dispatch, as extra hubs of a deployment would); the ``--workers`` sends in flight are split
                among them, so the concurrency stays the baseline's
    --kinds     e.g. ``webhook`` alone, to see one channel's cost
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _common
import aiohttp
from _common import (
    article_html,
    city_units,
    current_rss_mb,
    demo_sandbox_options,
    dir_bytes,
    fmt,
    hub_settings,
    maybe_profile,
    peak_rss_mb,
    rss_source,
    sandbox_post,
    sqlite_bytes,
)

DEFAULT_KINDS = ("webhook", "static", "cms", "push")
BODY_SEED = 7
BODY_CHARS = 3000
TITLE = "国务院办公厅关于进一步优化政务服务提升行政效能的意见（国办发〔2026〕{n}号）"


# ---------------------------------------------------------------- baseline phase


def _write_atomic(path: Path, data: bytes) -> None:
    """The floor of a static export: one page, temp file + fsync + rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


Request = tuple[str, str, bytes, dict[str, str]]


def _requests(n: int, kinds: list[str], urls: dict[str, str], site: Path) -> list[Request]:
    """Every baseline request, built before the clock starts: (kind, url or path, body, headers)."""
    from core.content import sanitize
    from sandbox.server import DEMO_SECRETS

    title = TITLE.format(n=n)
    source_url = f"{urls['upstream']}/zhengce/content/202611/content_7000001.htm"
    content = sanitize(article_html(random.Random(BODY_SEED), BODY_CHARS), source_url)   # as stored by intake
    auth = "Basic " + base64.b64encode(
        f"{DEMO_SECRETS['jpush_app_key']}:{DEMO_SECRETS['jpush_master_secret']}".encode()).decode()
    now = int(time.time())
    out: list[Request] = []
    for i in range(n):
        for kind in kinds:
            key = hashlib.sha256(f"baseline-{now}-{i}-{kind}".encode()).hexdigest()[:32]
            if kind == "webhook":
                body = json.dumps({"key": key, "unit": {"id": f"u{i}", "name": f"鄂州市单位{i}"}, "item": {
                    "title": title, "url": source_url, "origin": "中国政府网", "authority": "国务院办公厅",
                    "published_at": datetime.now(UTC).isoformat(), "summary": content[:200],
                    "content_html": content, "source_line": "转载自 中国政府网", "images": []},
                    "sent_at": datetime.now(UTC).isoformat()}, ensure_ascii=False, separators=(",", ":")).encode()
                sig = "sha256=" + hmac.new(DEMO_SECRETS["webhook"].encode(), body, hashlib.sha256).hexdigest()
                out.append((kind, f"{urls['webhook']}/hooks/u{i}", body, {
                    "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key,
                    "X-Syndicator-Signature": sig}))
            elif kind == "cms":
                body = json.dumps({"key": key, "title": title, "content_html": content, "source_url": source_url,
                                   "origin": "中国政府网", "credit": "转载自 中国政府网", "column": "zzbz",
                                   "published_at": None, "sent_at": now},
                                  ensure_ascii=False, separators=(",", ":")).encode()
                sig = "sha256=" + hmac.new(DEMO_SECRETS["cms_secret"].encode(), body, hashlib.sha256).hexdigest()
                out.append((kind, f"{urls['cms']}/api/reprints", body, {
                    "Content-Type": "application/json", "X-Idempotency-Key": key, "X-Timestamp": str(now),
                    "X-Signature": sig}))
            elif kind == "push":
                alert = f"【转载】{title}"[:80]
                note = {"alert": alert, "android": {"alert": alert, "title": f"鄂州市单位{i}"},
                        "ios": {"alert": alert, "sound": "default"}}
                body = json.dumps({"platform": ["android", "ios"], "audience": {"tag": [f"u{i}"]}, "notification": note,
                                   "options": {"time_to_live": 86400, "apns_production": True, "classification": 0,
                                               "sendno": i}}, ensure_ascii=False, separators=(",", ":")).encode()
                out.append((kind, f"{urls['jpush']}/v3/push", body, {"Content-Type": "application/json",
                                                                     "Authorization": auth}))
            elif kind == "static":
                page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body>"
                        f"<h1>{title}</h1>{content}</body></html>").encode()
                out.append((kind, str(site / f"u{i}" / "articles" / f"{key}.html"), page, {}))
    return out


async def baseline_phase(n: int, kinds: list[str], urls: dict[str, str], workers: int) -> dict[str, Any]:
    rss_start = current_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-fanout-base-") as tmp:
        requests = _requests(n, kinds, urls, Path(tmp))
        errors: list[str] = []
        it = iter(requests)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=max(64, workers * 2))) as session:

            async def worker() -> None:
                for kind, target, body, headers in it:
                    if kind == "static":
                        await asyncio.to_thread(_write_atomic, Path(target), body)
                        continue
                    async with session.post(target, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status not in (200, 201):
                            errors.append(f"{kind} HTTP {resp.status}")

            t0, c0 = time.perf_counter(), time.process_time()
            await asyncio.gather(*(worker() for _ in range(workers)))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"phase": "baseline", "n": len(requests), "seconds": wall, "cpu_seconds": cpu,
            "rate": len(requests) / wall, "errors": len(errors), "error_sample": errors[:3],
            "rss_start_mb": rss_start, "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------- hub phase


async def hub_phase(n: int, kinds: list[str], urls: dict[str, str], workers: int, limit_s: float,
                    profile: str | None, pg: str | None, log_level: str, hubs: int = 1) -> dict[str, Any]:
    rss_start = current_rss_mb()
    async with aiohttp.ClientSession() as session:
        await sandbox_post(session, urls["upstream"] + "/_sandbox/publish", {
            "title": TITLE.format(n=n), "body": article_html(random.Random(BODY_SEED), BODY_CHARS)})
    with tempfile.TemporaryDirectory(prefix="bench-fanout-hub-") as tmp:
        if pg:
            async with _common.pg_schema(pg) as url:
                result = await _hub_run(Path(tmp), n, kinds, urls, workers, limit_s, profile, url, log_level, hubs)
        else:
            result = await _hub_run(Path(tmp), n, kinds, urls, workers, limit_s, profile, None, log_level)
    result["rss_start_mb"] = rss_start
    result["peak_rss_mb"] = peak_rss_mb()
    return result


@contextlib.contextmanager
def _hub_logging(path: Path, level: str) -> Iterator[None]:
    """The hub's log lines into a file, set up as main.py sets them up."""
    from syndicator import logs

    with path.open("a", encoding="utf-8") as stream:
        stop = logs.configure(level, stream)
        try:
            yield
        finally:
            stop()


def _settings(base: Path, site: Path, n: int, kinds: list[str], urls: dict[str, str], workers: int,
              storage_url: str | None, **hub: Any) -> Any:
    """One hub of the benchmark: the upstream feed, N units' accounts in the sandbox, the store."""
    return hub_settings(base, sources=[rss_source("gwy", urls["upstream"] + "/rss/gwy.xml")],
                        units=city_units(n, kinds, urls, site), workers=workers, storage_url=storage_url, **hub)


async def _until_all_sent(hub: Any, task: asyncio.Task[None], started: float, limit_s: float, *,
                          wait_for_work: bool = False) -> None:
    """Return once no delivery is open (pending, sending, retrying), the dispatcher ended or the limit passed;
    ``wait_for_work``: not before some delivery exists (a hub started before the ingest)."""
    seen = not wait_for_work
    while time.perf_counter() - started < limit_s and not task.done():
        await asyncio.sleep(0.25)
        counts = await hub.store.state_counts()
        seen = seen or bool(counts)
        if seen and not any(counts.get(s) for s in ("pending", "sending", "retrying")):
            return


async def _hub_run(base: Path, n: int, kinds: list[str], urls: dict[str, str], workers: int, limit_s: float,
                   profile: str | None, storage_url: str | None, log_level: str, hubs: int = 1) -> dict[str, Any]:
    log_file = base / "hub.log"
    with _hub_logging(log_file, log_level):
        result = await _hub_measured(base, n, kinds, urls, workers, limit_s, profile, storage_url, log_level, hubs)
    result["log_lines"] = sum(1 for _ in log_file.open("rb")) if log_file.exists() else 0
    result["static_files"], result["static_bytes"] = dir_bytes(base / "site")
    return result


async def _hub_measured(base: Path, n: int, kinds: list[str], urls: dict[str, str], workers: int, limit_s: float,
                        profile: str | None, storage_url: str | None, log_level: str, hubs: int) -> dict[str, Any]:
    from syndicator.app import Hub

    result: dict[str, Any] = {"phase": "hub", "units": n, "storage": "postgres" if storage_url else "sqlite"}
    t = time.perf_counter()
    workers = max(1, workers // hubs)       # the same sends in flight in all, however many hubs share them
    settings = _settings(base, base / "site", n, kinds, urls, workers, storage_url)
    result["settings_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    async with Hub(settings) as hub:
        result["hub_build_seconds"] = time.perf_counter() - t
        result["rss_after_build_mb"] = current_rss_mb()
        extras = await _start_extra_hubs(base, hubs - 1, n, kinds, urls, workers, limit_s, storage_url, log_level)
        t, c = time.perf_counter(), time.process_time()
        result["items_created"] = await hub.watcher.poll(hub.watcher.sources()[0])
        result["ingest_seconds"] = time.perf_counter() - t
        result["ingest_cpu_seconds"] = time.process_time() - c
        result["deliveries"] = sum((await hub.store.state_counts()).values())
        await _dispatch_all(hub, limit_s, profile, result)
        if extras:
            result["extra_hubs"] = [await task for task in extras]
            rows = await hub.store.db.fetch(
                "SELECT holder, COUNT(*) AS n FROM attempts GROUP BY holder ORDER BY holder")
            result["attempts_by_hub"] = {r["holder"]: r["n"] for r in rows}
        if storage_url:
            result["pg_bytes"] = await hub.store.db.fetchval(
                "SELECT SUM(pg_total_relation_size(c.oid))::bigint FROM pg_class c JOIN pg_namespace s"
                " ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'")
        else:
            result["wal_bytes_open"] = sqlite_bytes(base / "hub.db")["db_wal"]
    if not storage_url:
        result["store_bytes"] = sqlite_bytes(base / "hub.db")
    return result


async def _start_extra_hubs(base: Path, count: int, n: int, kinds: list[str], urls: dict[str, str], workers: int,
                            limit_s: float, storage_url: str | None, log_level: str) -> list[asyncio.Task[Any]]:
    """More hub processes on the same PostgreSQL schema (as a deployment with several hubs would run), started
    after the first hub migrated the schema; returns once each has built its Hub and runs its dispatcher."""
    tasks = []
    for k in range(count):
        ready = base / f"extra-{k + 2}.ready"
        tasks.append(asyncio.create_task(_common.run_child(
            [__file__, "--phase", "hub-extra", "--units", str(n), "--urls", json.dumps(urls), "--workers",
             str(workers), "--kinds", ",".join(kinds), "--limit", str(limit_s), "--storage", storage_url or "",
             "--instance", str(k + 2), "--base", str(base), "--log-level", log_level], limit_s + 120)))
        for _ in range(600):
            if ready.exists() or tasks[-1].done():
                break
            await asyncio.sleep(0.05)
    return tasks


async def extra_hub_phase(n: int, kinds: list[str], urls: dict[str, str], workers: int, limit_s: float,
                          storage_url: str, instance: int, base: Path, log_level: str) -> dict[str, Any]:
    """One more hub: dispatch (no polling) until the first hub's ingest is all delivered."""
    from syndicator.app import Hub

    settings = _settings(base / f"hub-{instance}", base / "site", n, kinds, urls, workers, storage_url,
                         instance_id=f"bench-hub-{instance}", tick_seconds=0.05)
    result: dict[str, Any] = {"phase": "hub-extra", "instance": instance}
    with _hub_logging(base / f"hub-{instance}.log", log_level):
        async with Hub(settings) as hub:
            stop = asyncio.Event()
            task = asyncio.create_task(hub.dispatcher.run(stop))
            (base / f"extra-{instance}.ready").touch()
            threads0, c0 = _common.thread_cpu(), time.process_time()
            await _until_all_sent(hub, task, time.perf_counter(), limit_s, wait_for_work=True)
            result["cpu_seconds"] = time.process_time() - c0
            result["thread_cpu"] = _common.thread_cpu_delta(threads0, _common.thread_cpu())
            stop.set()
            await asyncio.wait_for(task, 60)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


async def _dispatch_all(hub: Any, limit_s: float, profile: str | None, result: dict[str, Any]) -> None:
    """Run the real Dispatcher.run until no delivery is open (or the limit), and describe how it went."""
    from syndicator.store.db import as_datetime

    meter = _common.CallMeter()     # counts and times claims; does not change what they do
    meter.wrap_sync(hub.dispatcher, "capacity")
    meter.wrap_async(hub.store, "claim_due", count_result=True, size_arg=2)
    meter.wrap_async(hub.dispatcher, "claim_once")
    stop = asyncio.Event()
    start_wall = datetime.now(UTC)
    threads0 = _common.thread_cpu()
    p0, c0 = time.perf_counter(), time.process_time()
    with maybe_profile(profile):
        task = asyncio.create_task(hub.dispatcher.run(stop))
        await _until_all_sent(hub, task, p0, limit_s)
    result["dispatch_cpu_seconds"] = time.process_time() - c0
    result["thread_cpu"] = _common.thread_cpu_delta(threads0, _common.thread_cpu())
    result["dispatch_wall_seconds"] = time.perf_counter() - p0
    result["meter"] = meter.summary()
    rows = await hub.store.db.fetch(
        "SELECT channel_kind, COUNT(*) AS n, MIN(delivered_at) AS first, MAX(delivered_at) AS last"
        " FROM deliveries WHERE state = 'delivered' GROUP BY channel_kind")
    by_kind = {r["channel_kind"]: (r["n"], as_datetime(r["first"]), as_datetime(r["last"])) for r in rows}
    result["by_kind"] = {kind: {"n": k, "first_s": (first - start_wall).total_seconds(),
                                "last_s": (last - start_wall).total_seconds()}
                         for kind, (k, first, last) in by_kind.items() if first and last}
    result["delivered"] = delivered = sum(v[0] for v in by_kind.values())
    last_at = max((v[2] for v in by_kind.values() if v[2]), default=None)
    if last_at is not None and delivered:
        span = (last_at - start_wall).total_seconds()
        result["dispatch_seconds"] = span
        result["rate"] = delivered / span
        result["end_to_end_seconds"] = span + result["ingest_seconds"]
    result["states"] = await hub.store.state_counts()
    bad = await hub.store.deliveries(states=["retrying", "failed", "held"], limit=3)
    result["error_sample"] = [f"{d.channel_kind}: {d.last_error}" for d in bad]
    stop.set()
    try:
        await asyncio.wait_for(task, 60)
    except Exception as exc:
        result["dispatcher_error"] = f"{type(exc).__name__}: {exc}"[:500]


# ---------------------------------------------------------------- orchestration


async def reset_sandbox(urls: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as session:
        for service in ("webhook", "cms", "jpush"):
            async with session.post(urls[service] + "/_sandbox/reset") as resp:
                await resp.read()


def show_baseline(r: dict[str, Any], sandbox_cpu: float) -> None:
    if "error" in r:
        print(f"  baseline: FAILED {r}")
        return
    print(f"  baseline: {r['n']:,} requests in {fmt(r['seconds'])} s = {fmt(r['rate'], 0)} /s; "
          f"client CPU {fmt(r['cpu_seconds'])} s ({fmt(100 * r['cpu_seconds'] / r['seconds'], 0)}% of a core), "
          f"sandbox CPU {fmt(sandbox_cpu)} s ({fmt(100 * sandbox_cpu / r['seconds'], 0)}%); "
          f"errors {r['errors']}; peak RSS {fmt(r['peak_rss_mb'], 0)} MiB")


def show_hub(r: dict[str, Any], sandbox_cpu: float) -> None:
    if "error" in r:
        print(f"  hub: FAILED {r}")
        return
    print(f"  hub: settings {fmt(r['settings_seconds'])} s, Hub() {fmt(r['hub_build_seconds'])} s "
          f"(RSS {fmt(r['rss_after_build_mb'], 0)} MiB); ingest of {r['deliveries']:,} deliveries "
          f"{fmt(r['ingest_seconds'])} s (CPU {fmt(r['ingest_cpu_seconds'])} s)")
    if "rate" in r:
        wall = r["dispatch_seconds"]
        print(f"  hub: delivered {r['delivered']:,}/{r['deliveries']:,} in {fmt(wall)} s = {fmt(r['rate'], 0)} /s; "
              f"hub CPU {fmt(r['dispatch_cpu_seconds'])} s ({fmt(100 * r['dispatch_cpu_seconds'] / wall, 0)}%), "
              f"sandbox CPU {fmt(sandbox_cpu)} s; end-to-end (poll+ingest+send) {fmt(r['end_to_end_seconds'])} s")
        print(f"  hub: CPU by thread {r['thread_cpu']} (main = event loop, sqlite = aiosqlite, "
              "pool = asyncio.to_thread, log = log writer)")
    for kind, k in sorted(r.get("by_kind", {}).items()):
        print(f"    {kind:8} {k['n']:>6,} delivered between +{fmt(k['first_s'])} s and +{fmt(k['last_s'])} s")
    m = r.get("meter", {})
    claims = m.get("calls", {}).get("claim_due", 0)
    if claims:
        claimed = m["extra"].get("claim_due.results", 0)
        passed = m["extra"].get("claim_due.arg_size", 0)
        print(f"  hub: {m['calls'].get('claim_once', 0):,} claim passes; {claims:,} claim_due calls claimed "
              f"{claimed / claims:.1f} deliveries each, excluding {passed / claims:,.0f} "
              f"closed accounts each; wall inside claim_due {fmt(m['seconds']['claim_due'])} s, inside capacity() "
              f"{fmt(m['seconds'].get('capacity', 0))} s ({m['calls'].get('capacity', 0):,} calls)")
    store = (f"store {r['store_bytes']['db']:,} B (WAL while open {r['wal_bytes_open']:,} B)" if "store_bytes" in r
             else f"store (PostgreSQL relations) {int(r.get('pg_bytes') or 0):,} B")
    print(f"  hub: states {r['states']}; peak RSS {fmt(r['peak_rss_mb'], 0)} MiB (ru_maxrss; "
          f"{fmt(r['rss_start_mb'], 0)} MiB after imports); {store}; static export {r['static_files']:,} files "
          f"{r['static_bytes']:,} B; {r.get('log_lines', 0):,} log lines")
    for extra in r.get("extra_hubs", []):
        if "error" in extra:
            print(f"  hub {extra.get('instance', '?')}: FAILED {extra}")
        else:
            print(f"  hub {extra['instance']}: CPU {fmt(extra['cpu_seconds'])} s by thread {extra['thread_cpu']}; "
                  f"peak RSS {fmt(extra['peak_rss_mb'], 0)} MiB")
    if r.get("attempts_by_hub"):
        print(f"  hubs: send attempts by hub {r['attempts_by_hub']}")
    if r.get("error_sample"):
        print(f"  hub: sample errors {r['error_sample']}")
    if r.get("dispatcher_error"):
        print(f"  hub: DISPATCHER ERROR {r['dispatcher_error']}")


async def orchestrate(args: argparse.Namespace) -> None:
    sizes = args.units or ([100, 1000] + ([10_000] if args.full else []))
    _common.print_facts()
    print(f"# fanout: kinds={','.join(args.kinds)} workers={args.workers} sizes={sizes} "
          f"store={'postgres' if args.pg else 'sqlite'}; sandbox in its own process, each phase in a fresh process "
          "(both share the 2 cores)")
    summary: list[str] = []
    for n in sizes:
        print(f"N = {n:,} units x {len(args.kinds)} = {n * len(args.kinds):,} deliveries", flush=True)
        async with _common.sandbox_process(demo_sandbox_options()) as box:
            common = ["--units", str(n), "--urls", json.dumps(box.urls), "--workers", str(args.workers),
                      "--kinds", ",".join(args.kinds)]
            baselines = []
            for phase in ("baseline", "hub", "baseline"):
                extra = ["--limit", str(args.limit)] if phase == "hub" else []
                if phase == "hub" and args.profile:
                    extra += ["--profile", args.profile]
                if phase == "hub" and args.pg:
                    extra += ["--pg", args.pg, "--hubs", str(args.hubs)]
                if phase == "hub":
                    extra += ["--log-level", args.log_level]
                cpu0 = box.cpu_seconds()
                r = await _common.run_child([__file__, "--phase", phase, *common, *extra], args.limit + 240)
                cpu = box.cpu_seconds() - cpu0
                if phase == "baseline":
                    show_baseline(r, cpu)
                    if "rate" in r and not r["errors"]:   # a rejected request is no ceiling to compare with
                        baselines.append(r["rate"])
                else:
                    show_hub(r, cpu)
                    hub = r
                await reset_sandbox(box.urls)
        ceiling = max(baselines) if baselines else float("nan")
        rate = hub.get("rate", float("nan"))
        peak = hub.get("peak_rss_mb", float("nan"))
        ratio = rate / ceiling
        done = hub.get("delivered", 0) == hub.get("deliveries", -1)
        print(f"  => N={n:,}: hub {fmt(rate, 0)} /s vs baseline {fmt(ceiling, 0)} /s = {ratio:.2f} of baseline "
              f"(target >= 0.6); 40,000 deliveries at this rate: {fmt(40_000 / rate, 1)} s (target <= 30 s); "
              f"peak RSS {fmt(peak, 0)} MiB (target <= 300)" + ("" if done else "  [NOT ALL DELIVERED]"), flush=True)
        if "rate" not in hub:
            summary.append(f"N={n}: FAILED ({hub.get('dispatcher_error') or hub.get('error') or 'nothing delivered'})"
                           [:160])
        else:
            summary.append(f"N={n}: {ratio:.2f}x baseline ({fmt(rate, 0)}/{fmt(ceiling, 0)} d/s, "
                           f"RSS {fmt(peak, 0)} MiB{'' if done else ', INCOMPLETE ' + str(hub['delivered'])})")
    print("RESULT fanout hub/baseline deliveries per second: " + "; ".join(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, nargs="+", help="unit counts to run (default 100 1000)")
    parser.add_argument("--full", action="store_true", help="also run 10,000 units")
    parser.add_argument("--workers", type=int, default=32, help="sends in flight (hub.workers; default 32)")
    parser.add_argument("--kinds", type=lambda s: s.split(","), default=list(DEFAULT_KINDS))
    parser.add_argument("--limit", type=float, default=150, help="give up dispatching after this many seconds")
    parser.add_argument("--profile", help="cProfile the hub's dispatch phase into this file")
    parser.add_argument("--pg", metavar="URL", help="store in PostgreSQL (a temporary schema at URL) instead of SQLite")
    parser.add_argument("--log-level", default="INFO",
                        help="hub log level; lines go to a file in the phase's temp dir (main.py defaults to INFO)")
    parser.add_argument("--hubs", type=int, default=1,
                        help="hub processes sharing the work (with --pg; the first one polls and ingests)")
    parser.add_argument("--phase", choices=["baseline", "hub", "hub-extra"], help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--instance", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hubs > 1 and not args.pg and not args.phase:
        parser.error("--hubs needs --pg: several hub processes share the work through PostgreSQL")
    if args.phase:
        urls = json.loads(args.urls)
        (n,) = args.units
        if args.phase == "baseline":
            result = asyncio.run(baseline_phase(n, args.kinds, urls, args.workers))
        elif args.phase == "hub-extra":
            result = asyncio.run(extra_hub_phase(n, args.kinds, urls, args.workers, args.limit, args.storage,
                                                 args.instance, Path(args.base), args.log_level.upper()))
        else:
            result = asyncio.run(hub_phase(n, args.kinds, urls, args.workers, args.limit, args.profile, args.pg,
                                           args.log_level.upper(), args.hubs))
        print(json.dumps(result, ensure_ascii=False, default=str))
        return
    asyncio.run(orchestrate(args))


if __name__ == "__main__":
    main()
