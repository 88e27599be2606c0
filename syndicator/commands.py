"""What each `main.py` command does. Each returns the process exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from syndicator.calendar import CalendarOverrideError, WorkCalendar
from syndicator.clock import SHANGHAI, SystemClock
from syndicator.config import ConfigError, Settings, load_settings
from syndicator.dashboard import cmd_hash_password as cmd_hash_password  # `main.py hash-password`
from syndicator.operations import Operations, Outcome
from syndicator.store import Store, open_store

log = logging.getLogger("syndicator")


class UserError(Exception):
    """A problem the operator can fix; printed without a traceback."""


def settings_from(args: argparse.Namespace) -> Settings:
    try:
        return load_settings(args.config)
    except ConfigError as exc:
        raise UserError(f"configuration is invalid:\n{exc}") from None


def calendar_for(settings: Settings) -> WorkCalendar:
    try:
        return WorkCalendar(settings.path(settings.calendar_dir))
    except CalendarOverrideError as exc:
        raise UserError(f"calendar override is invalid: {exc}") from None


@contextlib.asynccontextmanager
async def store_for(settings: Settings) -> AsyncIterator[Store]:
    store = await open_store(settings.storage_url(), SystemClock())
    try:
        yield store
    finally:
        await store.close()


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
    from syndicator.app import Hub

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
    today = datetime.now(SHANGHAI).date()
    print(f"{args.config}: OK — {len(settings.sources)} sources, {len(settings.units)} units, "
          f"{len(settings.accounts())} channel accounts")
    for warning in calendar.warnings(today):
        print(f"warning: {warning}")
    return 0


async def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.server import start_sandbox

    box = await start_sandbox(args.host)
    for service in box.ports:
        print(f"{service:9s} {box.url(service)}   (received: {box.url(service)}/_sandbox/received)")
    await _stop_event().wait()
    await box.close()
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from syndicator.demo import run_demo

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
                             "live_check": source.live_check, "last_success_at": h.last_success_at,
                             "consecutive_errors": h.consecutive_errors, "failing_since": h.failing_since,
                             "last_error": h.last_error, "next_check_at": h.next_check_at,
                             "items_seen": h.items_seen})
        return 0
    source = next((s for s in settings.sources if s.id == args.source_id), None)
    if source is None:
        raise UserError(f"no source with id {args.source_id!r} in {args.config}")
    from syndicator.probe import probe_source

    return await probe_source(settings, source, limit=args.limit)


# ---------------------------------------------------------------- reporting


async def cmd_status(args: argparse.Namespace) -> int:
    from syndicator.status import collect_status

    settings = settings_from(args)
    async with store_for(settings) as store:
        report = await collect_status(store, settings, calendar_for(settings), SystemClock())
    print(json.dumps(report, ensure_ascii=False, default=str, indent=2))
    return 0


async def cmd_deadline(args: argparse.Namespace) -> int:
    from syndicator.deadlines import deadline_report

    settings = settings_from(args)
    calendar = calendar_for(settings)
    try:
        _print_json(deadline_report(args.time, settings.deadlines, calendar, rule=args.rule, days=args.days))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return 0


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    from syndicator.deadlines import parse_time_text

    try:
        return parse_time_text(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


async def cmd_delays(args: argparse.Namespace) -> int:
    from syndicator.report import delays_listing, format_delays

    settings = settings_from(args)
    async with store_for(settings) as store:
        rows = await delays_listing(store, _when(args.since), _when(args.until), args.unit, args.channel)
    print(format_delays(rows, args.format, names=_unit_names(settings)))
    return 0


async def cmd_report(args: argparse.Namespace) -> int:
    from syndicator.report import format_report, monthly_report

    settings = settings_from(args)
    async with store_for(settings) as store:
        try:
            rows = await monthly_report(store, args.month, calendar_for(settings), settings.deadlines)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    print(format_report(rows, args.format, month=args.month, names=_unit_names(settings)))
    return 0


def _unit_names(settings: Settings) -> dict[str, str]:
    return {unit.id: unit.name for unit in settings.units}


async def cmd_reload(args: argparse.Namespace) -> int:
    """Recompute open provisional deadlines after adding config/calendar/<year>.toml.

    A running hub notices new override files by itself within a minute (or at once on SIGHUP).
    """
    from syndicator.delays import recompute_provisional

    settings = settings_from(args)
    calendar = calendar_for(settings)
    by_source = {s.id: s.deadline for s in settings.sources if s.deadline}
    async with store_for(settings) as store:
        changed = await recompute_provisional(
            store, calendar, lambda source_id: by_source.get(source_id or "") or settings.deadlines)
    print(f"已按最新节假日安排重算 {changed} 条待发稿件的截止时间")
    return 0


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


async def cmd_resume(args: argparse.Namespace) -> int:
    async with operations_for(args) as ops:
        return _report(await ops.resume(args.account_id, CLI_ACTOR))
