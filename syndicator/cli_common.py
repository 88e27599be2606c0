"""What every command-line command shares: the operator's error type and opening settings, calendar and store."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

from core.clock import SystemClock
from syndicator.calendar import CalendarOverrideError, WorkCalendar
from syndicator.config import ConfigError, Settings, load_settings
from syndicator.store import Store, open_store


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
