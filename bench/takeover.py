"""Takeover after a SIGKILL, at the default hub settings: seconds from killing one of two hubs to its orphaned
deliveries (those it had claimed, ``sending``) being taken over and sent by the survivor.

Two ``main.py run`` processes share PostgreSQL (``SYNDICATOR_TEST_PG``, a fresh schema) or, without it, one
SQLite file. The webhook look-alike makes each post at once and answers after ``--reply-ms`` (so the kill finds
sends in flight whose posts exist: the survivor's lookup must find them, not resend). The run is short (about
half a minute). There is no same-run baseline to measure: before heartbeats a dead hub's claims waited for
``stale_claim_seconds`` (600 s by default) plus a fixed 60-second timer, so the ratio printed is against that.

    python bench/takeover.py [--units 200] [--reply-ms 2000] [--sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import _common

ROOT = Path(__file__).resolve().parent.parent
SECRET = "takeover-bench-secret"
PG_URL = os.environ.get("SYNDICATOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def write_config(path: Path, name: str, storage: str, upstream: str, receiver: str, units: int) -> None:
    lines = ["[hub]", f'instance_id = "{name}"', f'data_dir = "{path.parent / name}"',
             "[storage]", f'url = "{storage}"', "[web]", "port = 0",
             "[[sources]]", 'id = "gwy"', 'name = "国务院信息"', 'kind = "rss"', f'url = "{upstream}/rss/gwy.xml"',
             "interval = 60", 'origin = "中国政府网"']
    for i in range(units):
        lines += ["[[units]]", f'id = "u{i}"', f'name = "单位{i}"', "[[units.accounts]]", f'id = "u{i}-hook"',
                  'kind = "webhook"', 'credentials = { secret = "${HOOK_SECRET}" }',
                  f'options = {{ url = "{receiver}/hooks/u{i}", lookup_url = "{receiver}/hooks/lookup" }}',
                  "concurrency = 1"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextlib.asynccontextmanager
async def storage(sqlite: bool, tmp: Path) -> AsyncIterator[str]:
    if not sqlite:
        try:
            async with _common.pg_schema(PG_URL) as url:
                yield url
                return
        except OSError as exc:
            print(f"PostgreSQL not reachable ({exc}); using one SQLite file shared by both hubs")
    yield f"sqlite:///{tmp / 'hub.db'}"


async def serve(app: object) -> tuple[str, object]:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)  # type: ignore[arg-type]
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", runner


async def run(args: argparse.Namespace) -> None:
    from core.clock import SystemClock
    from sandbox.common import Faults
    from sandbox.upstream import UpstreamState
    from sandbox.upstream import build_app as build_upstream
    from sandbox.webhook import STORED
    from sandbox.webhook import build_app as build_webhook
    from syndicator.config import HubSettings
    from syndicator.store import open_store

    defaults = HubSettings()
    state = UpstreamState()
    state.publish("国务院关于实例接管时间测量的通知")
    upstream, up_runner = await serve(build_upstream(state))
    webhook = build_webhook(SECRET, Faults(latency_after_ms=args.reply_ms))
    receiver, hook_runner = await serve(webhook)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with storage(args.sqlite, tmp) as url:
            hubs = {}
            for name in ("hub-a", "hub-b"):
                write_config(tmp / f"{name}.toml", name, url, upstream, receiver, args.units)
                hubs[name] = await asyncio.create_subprocess_exec(
                    sys.executable, str(ROOT / "main.py"), "run", "--config", str(tmp / f"{name}.toml"), cwd=ROOT,
                    env={**os.environ, "HOOK_SECRET": SECRET}, stdout=(tmp / f"{name}.log").open("ab"),
                    stderr=asyncio.subprocess.STDOUT)
            store = await open_store(url, SystemClock())
            try:
                held_by_a = "SELECT id FROM deliveries WHERE state = 'sending' AND claimed_by = 'hub-a'"
                try:
                    async with asyncio.timeout(60):
                        while len(await store.db.fetch(held_by_a)) < 5:  # noqa: ASYNC110 - polls other processes
                            await asyncio.sleep(0.1)
                except TimeoutError:
                    for name in hubs:
                        print(f"--- {name}.log\n" + (tmp / f"{name}.log").read_text("utf-8")[-3000:])
                    raise
                hubs["hub-a"].kill()
                killed = time.monotonic()
                await hubs["hub-a"].wait()
                orphans = [r["id"] for r in await store.db.fetch(held_by_a)]
                taken = sent = None
                async with asyncio.timeout(defaults.stale_claim_seconds + 120):
                    while sent is None:
                        await asyncio.sleep(0.1)
                        marks = ",".join("?" * len(orphans))
                        left = await store.db.fetch(
                            f"SELECT state, claimed_by FROM deliveries WHERE id IN ({marks})", *orphans)
                        if taken is None and not any(r["claimed_by"] == "hub-a" for r in left):
                            taken = time.monotonic() - killed
                        if all(r["state"] == "delivered" for r in left):
                            sent = time.monotonic() - killed
                counts = await store.state_counts()
            finally:
                await store.close()
                for proc in hubs.values():
                    if proc.returncode is None:
                        proc.terminate()
                        await proc.wait()
    await up_runner.cleanup()  # type: ignore[attr-defined]
    await hook_runner.cleanup()  # type: ignore[attr-defined]
    repeats = sum(v["repeats"] for v in webhook[STORED].values())
    old = defaults.stale_claim_seconds + 60
    print(f"store: {'PostgreSQL' if url.startswith('postgres') else 'SQLite'}; {args.units} webhook accounts, "
          f"replies after {args.reply_ms} ms; defaults: heartbeat {defaults.heartbeat_seconds:g} s, "
          f"heartbeat timeout {defaults.heartbeat_timeout_seconds:g} s, stale check every "
          f"{defaults.stale_check_interval:g} s, stale_claim_seconds {defaults.stale_claim_seconds:g}")
    print(f"orphaned by the kill: {len(orphans)} deliveries")
    print(f"kill -> taken over: {taken:.1f} s; kill -> all orphans delivered: {sent:.1f} s")
    print(f"ratio against the old stale-window takeover (>= {old:g} s): {sent / old:.3f}")
    print(f"final states: {counts}; posts repeated at the receiver: {repeats}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--reply-ms", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true", help="one SQLite file instead of PostgreSQL")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
