"""A hub process is SIGKILLed in the middle of a fan-out and restarted: nothing is lost, and
nothing is sent twice unless the hub recorded it as a possible duplicate."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from core.clock import SystemClock
from sandbox.common import Faults
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import STORED
from sandbox.webhook import build_app as build_webhook
from syndicator.store import open_store
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
SECRET = "crash-test-secret"
UNITS = 100
ITEMS = 2


def write_config(tmp: Path, upstream: str, receiver: str, *, lookup: bool) -> Path:
    lines = [
        "[hub]", 'instance_id = "crash-hub"', f'data_dir = "{tmp / "var"}"', "workers = 8", "tick_seconds = 0.1",
        "retry_base_seconds = 1", "retry_cap_seconds = 2", "send_timeout_seconds = 10", "stale_claim_seconds = 30",
        "[storage]", f'url = "sqlite:///{tmp / "hub.db"}"',
        "[web]", "port = 0",
        "[[sources]]", 'id = "gwy"', 'name = "国务院信息"', 'kind = "rss"', f'url = "{upstream}/rss/gwy.xml"',
        "interval = 30", 'origin = "中国政府网"',
    ]
    for i in range(UNITS):
        options = f'url = "{receiver}/hooks/u{i}"' + (f', lookup_url = "{receiver}/hooks/lookup"' if lookup else "")
        lines += ["[[units]]", f'id = "u{i}"', f'name = "单位{i}"', "[[units.accounts]]", f'id = "u{i}-hook"',
                  'kind = "webhook"', 'credentials = { secret = "${HOOK_SECRET}" }', f"options = {{ {options} }}",
                  "concurrency = 1"]
    path = tmp / "crash.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def start_hub(config: Path, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "HOOK_SECRET": SECRET}
    return await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "run", "--config", str(config), cwd=ROOT, env=env,
        stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT)


async def wait_for(predicate, limit_s: float, what: str) -> None:
    try:
        async with asyncio.timeout(limit_s):
            while not await predicate():  # noqa: ASYNC110 - polls another process
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.mark.slow
@pytest.mark.parametrize("lookup", [True, False], ids=["reconcile-by-lookup", "blind-resend"])
async def test_sigkill_during_fanout_loses_nothing(serve, tmp_path: Path, lookup: bool) -> None:
    state = UpstreamState()
    for n in range(ITEMS):
        state.publish(f"国务院关于崩溃恢复测试的通知（{n + 1}）")
    upstream = await serve(build_upstream(state))
    webhook_app = build_webhook(SECRET, Faults(latency_ms=60))   # processed, then a slow answer
    receiver = await serve(webhook_app)
    config = write_config(tmp_path, upstream, receiver, lookup=lookup)
    log = tmp_path / "hub.log"
    total = UNITS * ITEMS
    stored = webhook_app[STORED]

    hub = await start_hub(config, log)
    try:
        async def some_delivered() -> bool:
            return len(stored) >= total // 4
        await wait_for(some_delivered, 60, f"a quarter of the deliveries (log: {log})")
        hub.kill()                                  # SIGKILL: no cleanup of any kind
        await hub.wait()
        assert len(stored) < total, "the fan-out finished before the kill; slow the receiver down"

        hub = await start_hub(config, log)
        store = await open_store(f"sqlite:///{tmp_path / 'hub.db'}", SystemClock())
        try:
            async def all_delivered() -> bool:
                return (await store.state_counts()).get("delivered", 0) == total
            await wait_for(all_delivered, 90, f"every delivery after restart (log: {log})")
            deliveries = await store.deliveries(limit=10_000)
        finally:
            await store.close()
    finally:
        if hub.returncode is None:
            hub.terminate()
            await hub.wait()

    assert len(deliveries) == total
    assert len(stored) == total, "a delivery never reached the receiver"
    by_key = {d.idempotency_key: d for d in deliveries}
    assert set(stored) == set(by_key)
    repeated = {key for key, v in stored.items() if v["repeats"]}
    unrecorded = [key for key in repeated if not by_key[key].possible_duplicate]
    assert unrecorded == [], f"{len(unrecorded)} duplicates the hub did not record"
    if lookup:
        assert repeated == set(), "with a lookup endpoint every interrupted send is reconciled, not resent"
    assert hub.returncode is not None and "stopped cleanly" in log.read_text("utf-8")


@pytest.mark.slow
async def test_sigterm_mid_fanout_finishes_or_returns_sends(serve, tmp_path: Path) -> None:
    """Graceful stop: no new claims, sends in flight finish (or go back), nothing left 'sending'."""
    import signal

    state = UpstreamState()
    for n in range(ITEMS):
        state.publish(f"国务院关于平稳停止测试的通知（{n + 1}）")
    upstream = await serve(build_upstream(state))
    webhook_app = build_webhook(SECRET, Faults(latency_ms=60))
    receiver = await serve(webhook_app)
    config = write_config(tmp_path, upstream, receiver, lookup=False)
    log = tmp_path / "hub.log"
    stored = webhook_app[STORED]
    hub = await start_hub(config, log)
    try:
        async def some_delivered() -> bool:
            return len(stored) >= UNITS * ITEMS // 4
        await wait_for(some_delivered, 60, f"a quarter of the deliveries (log: {log})")
        hub.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(hub.wait(), 30) == 0
    finally:
        if hub.returncode is None:
            hub.kill()
            await hub.wait()
    store = await open_store(f"sqlite:///{tmp_path / 'hub.db'}", SystemClock())
    try:
        counts = await store.state_counts()
        delivered = await store.deliveries(states=["delivered"], limit=10_000)
    finally:
        await store.close()
    assert "sending" not in counts and sum(counts.values()) == UNITS * ITEMS
    assert 0 < len(delivered) < UNITS * ITEMS
    # everything the hub counts as delivered really arrived, exactly once, with no duplicate flagged
    assert {d.idempotency_key for d in delivered} == set(stored)
    assert not any(d.possible_duplicate for d in delivered)
    assert all(v["repeats"] == 0 for v in stored.values())
    assert "stopped cleanly" in log.read_text("utf-8")
