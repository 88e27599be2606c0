"""What each `main.py` command does. Each returns the process exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import pathlib
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from core.clock import SystemClock
from sandbox.server import start_sandbox
from syndicator.app import Hub
from syndicator.calendar_cli import run_calendar
from syndicator.cli_common import UserError, calendar_for, settings_from, store_for
from syndicator.config import Settings
from syndicator.dashboard import cmd_hash_password as cmd_hash_password  # `main.py hash-password`
from syndicator.deadlines import deadline_report, parse_time_text
from syndicator.delay_log import DelayLog
from syndicator.demo import run_demo
from syndicator.evidence import evidence_files, report_details, write_evidence
from syndicator.online_check import check_online
from syndicator.operations import Operations, Outcome
from syndicator.probe import probe_source, snapshot_sources
from syndicator.recompute import recompute_deadlines
from syndicator.report import delays_listing, format_delays, format_report, monthly_report
from syndicator.source_empty import health_state
from syndicator.status import collect_status
from syndicator.store.db import open_database
from syndicator.store.schema import migrate
from syndicator.web_auth import cmd_hash_api_key as cmd_hash_api_key  # `main.py hash-api-key`

log = logging.getLogger("syndicator")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


# ---------------------------------------------------------------- daemon


async def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    calendar_for(settings)
    stop = _stop_event()
    async with Hub(settings) as hub:
        reloads: set[asyncio.Task[int]] = set()

        def on_sighup() -> None:      # `kill -HUP`: re-read calendar overrides now
            task = asyncio.get_running_loop().create_task(hub.reload_calendar())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)
        log.info("hub %s running: %d sources, %d units, %d accounts", settings.hub.instance_id,
                 len(settings.sources), len(settings.units), len(settings.accounts()))
        await hub.run(stop)
    return 0


async def cmd_check_config(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    calendar = calendar_for(settings)
    today = SystemClock().now().astimezone(settings.deadlines.tz).date()
    print(f"{args.config}: OK — {len(settings.sources)} sources, {len(settings.units)} units, "
          f"{len(settings.accounts())} channel accounts")
    for warning in calendar.warnings(today):
        print(f"warning: {warning}")
    if calendar.warnings(today):
        print(f"warning: holiday arrangement files are read from {calendar.override_path(today.year).parent}"
              " (<year>.toml; see its README)")
    if settings.deadlines.max_anchor_age_hours is not None:
        print("warning: deadlines.max_anchor_age_hours is no longer used: an old upstream time is a baseline "
              "(before tracking) or a late detection, never replaced by the detection time; remove it")
    if not getattr(args, "online", False):
        return 0

    async with store_for(settings) as store:          # read-only: tokens stored by re-authorisation
        lines = await check_online(settings, store.clock, stored=store.kv)
    for line in lines:
        print(line)
    return 1 if any(line.status == "FAIL" for line in lines) else 0


async def cmd_sandbox(args: argparse.Namespace) -> int:
    box = await start_sandbox(args.host)
    for service in box.ports:
        print(f"{service:9s} {box.url(service)}   (received: {box.url(service)}/_sandbox/received)")
    await _stop_event().wait()
    await box.close()
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    data_dir = settings.path(settings.hub.data_dir)
    if data_dir.exists():
        log.info("demo: starting from a clean %s", data_dir)
        shutil.rmtree(data_dir)
    return await run_demo(settings, _stop_event(), publish_every=args.publish_every, duration=args.duration)


# ---------------------------------------------------------------- sources


async def cmd_sources(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.action == "list":
        async with store_for(settings) as store:
            for source in settings.sources:
                h = await store.source_health(source.id)
                _print_json({"id": source.id, "name": source.name, "kind": source.kind, "enabled": source.enabled,
                             "state": health_state(h), "empty_since": h.empty_since, "empty_reason": h.empty_reason,
                             "last_listed": h.last_listed,
                             "live_check": source.live_check, "last_success_at": h.last_success_at,
                             "consecutive_errors": h.consecutive_errors, "failing_since": h.failing_since,
                             "last_error": h.last_error, "next_check_at": h.next_check_at,
                             "items_seen": h.items_seen})
        return 0
    by_id = {s.id: s for s in settings.sources}
    if unknown := [i for i in args.source_id if i not in by_id]:
        raise UserError(f"no source with id {unknown[0]!r} in {args.config}")
    if args.action == "snapshot":
        if not args.out:
            raise UserError("sources snapshot needs --out DIR")
        chosen = [by_id[i] for i in args.source_id] or [s for s in settings.sources if s.enabled]
        return await snapshot_sources(settings, chosen, pathlib.Path(args.out), articles=args.limit)
    if len(args.source_id) != 1:
        raise UserError("sources probe needs exactly one source id")

    return await probe_source(settings, by_id[args.source_id[0]], limit=args.limit)


# ---------------------------------------------------------------- reporting


async def cmd_status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    async with store_for(settings) as store:
        report = await collect_status(store, settings, calendar_for(settings), store.clock)
    print(json.dumps(report, ensure_ascii=False, default=str, indent=2))
    return 0


async def cmd_deadline(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    calendar = calendar_for(settings)
    try:
        report = deadline_report(args.time, settings.deadlines, calendar, rule=args.rule, days=args.days)
    except ValueError as exc:  # includes dates beyond year 9999 (compute_deadline turns OverflowError into this)
        raise UserError(str(exc)) from None
    _print_json(report)
    return 0


_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def _when(text: str | None, settings: Settings, *, end_of_day: bool = False) -> datetime | None:
    """A --since/--until value; a bare date is a whole day in the configured zone, so
    ``--until 2026-12-31`` includes the 31st."""
    if not text:
        return None

    try:
        if _DATE_ONLY.match(text):
            day = datetime.fromisoformat(text.strip()).replace(tzinfo=settings.deadlines.tz)
            return day + timedelta(days=1) if end_of_day else day
        return parse_time_text(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


async def cmd_delays(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    since, until = _when(args.since, settings), _when(args.until, settings, end_of_day=True)
    calendar = calendar_for(settings)
    async with store_for(settings) as store:
        rows = await delays_listing(store, since, until, args.unit, args.channel, calendar=calendar,
                                    settings_for=settings.deadlines_for, now=store.clock.now())
    try:
        print(format_delays(rows, args.format, names=_unit_names(settings), tz=settings.deadlines.tz))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return 0


async def cmd_report(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    calendar = calendar_for(settings)
    async with store_for(settings) as store:
        try:
            rows = await monthly_report(store, args.month, calendar, settings.deadlines, settings.deadlines_for)
            details = await report_details(store, args.month, calendar, settings.deadlines, settings.deadlines_for)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        as_of = store.clock.now()
    print(format_report(rows, args.format, month=args.month, names=_unit_names(settings), as_of=as_of,
                        tz=settings.deadlines.tz, details=details))
    return 0


def _unit_names(settings: Settings) -> dict[str, str]:
    return {unit.id: unit.name for unit in settings.units}


async def cmd_reload(args: argparse.Namespace) -> int:
    """Recompute the deadlines a calendar change affects, after adding or editing config/calendar/<year>.toml.

    A running hub notices changed override files by itself within 30 s (or at once on SIGHUP).
    """
    settings = settings_from(args)
    calendar = calendar_for(settings)
    delay_log = DelayLog(settings.path(settings.hub.data_dir) / "delays.jsonl", tz=settings.deadlines.tz)
    try:
        async with store_for(settings) as store:
            result = await recompute_deadlines(store, calendar, settings.deadlines_for, store.clock.now(), delay_log)
    finally:
        delay_log.close()
    print(f"已按最新节假日安排重算 {result.changed} 条投递的截止时间（含已完成的）；"
          f"{result.superseded} 条延误记录因截止时间变化作废，将由运行中的服务按新截止时间重新判定")
    return 0


async def cmd_calendar(args: argparse.Namespace) -> int:
    """`calendar propose --from URL|FILE` / `calendar confirm YEAR`: the State Council holiday notice."""
    return await run_calendar(args)


# ---------------------------------------------------------------- operator actions


CLI_ACTOR = "命令行"


@contextlib.asynccontextmanager
async def operations_for(args: argparse.Namespace) -> AsyncIterator[Operations]:
    settings = settings_from(args)
    async with store_for(settings) as store:
        yield Operations(settings, store, store.clock)


def _report(outcome: Outcome) -> int:
    print(outcome.message, file=sys.stdout if outcome.ok else sys.stderr)
    return 0 if outcome.ok else 1


async def cmd_retry(args: argparse.Namespace) -> int:
    async with operations_for(args) as ops:
        return _report(await ops.retry(args.delivery_id, CLI_ACTOR))


async def cmd_skip(args: argparse.Namespace) -> int:
    async with operations_for(args) as ops:
        return _report(await ops.skip(args.delivery_id, args.reason, CLI_ACTOR))


async def cmd_pause(args: argparse.Namespace) -> int:
    async with operations_for(args) as ops:
        return _report(await ops.pause(args.account_id, args.reason, CLI_ACTOR))


async def cmd_correct_time(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    calendar = calendar_for(settings)
    async with store_for(settings) as store:
        ops = Operations(settings, store, store.clock)
        return _report(await ops.correct_time(args.item_id, args.time, args.reason, CLI_ACTOR, calendar))


async def cmd_evidence(args: argparse.Namespace) -> int:
    """Per-unit evidence for a month: evidence.csv (UTF-8 with BOM) and receipts/<delivery>.json."""
    settings = settings_from(args)
    if args.unit not in _unit_names(settings):
        raise UserError(f"unknown unit {args.unit!r} (units: {', '.join(_unit_names(settings))})")
    calendar = calendar_for(settings)
    async with store_for(settings) as store:
        try:
            rows = await report_details(store, args.month, calendar, settings.deadlines, settings.deadlines_for,
                                        unit=args.unit)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        files = await evidence_files(store, rows, settings.deadlines.tz, _unit_names(settings))
    written = write_evidence(files, pathlib.Path(args.out))
    print(f"{len(rows)} deliveries, {len(written) - 1} receipt files written to {args.out}")
    return 0


async def cmd_resume(args: argparse.Namespace) -> int:
    async with operations_for(args) as ops:
        return _report(await ops.resume(args.account_id, CLI_ACTOR))


async def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database schema to this release before starting it (the hub also does so at start);
    an upgrade runs this once, then restarts the hub (docs/deploy.md)."""
    settings = settings_from(args)
    db = open_database(settings.storage_url())
    await db.connect()
    try:
        version = await migrate(db)
    finally:
        await db.close()
    print(f"database schema at version {version}")
    return 0
