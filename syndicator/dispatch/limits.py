"""What keeps an account from being claimed: its hourly send limit, and its gate (paused by a person, credentials
rejected, held by the platform)."""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

# Gate states a failure sets (AuthExpired, AccountHeld); a person's pause is "paused". All are lifted by a resume.
HELD_STATES = ("needs_reauth", "platform_hold")


class HourlyLimit:
    """Sliding one-hour window of send starts per account, counted across every hub on the database.

    This hub's own claims count the moment they are made (``record``). Other hubs' attempts are read back from
    the store (``absorb``, on every ``refresh_accounts``, i.e. every 5 s) by attempt id: the read is a primary-key
    range over the rows added since the last one, so it stays cheap however long the attempts table grows. A
    short look-back (``LOOKBACK_IDS``) catches ids that committed out of order under PostgreSQL; ids are
    de-duplicated, so nothing is counted twice. Accounts whose window is full are tracked as they fill, so a
    claim asks "which accounts are full?" without walking every account of a province.
    """

    LOOKBACK_IDS = 256

    def __init__(self, per_hour: Mapping[str, int | None] | None = None) -> None:
        self.per_hour = dict(per_hour or {})
        self._starts: defaultdict[str, list[datetime]] = defaultdict(list)
        self._seen: dict[int, datetime] = {}          # attempt ids read from the store -> start
        self._full: dict[str, datetime] = {}          # account -> when its window next has room
        self.last_id = 0

    def record(self, account_id: str, when: datetime) -> None:
        insort(self._starts[account_id], when)
        self._check_full(account_id)

    def absorb(self, rows: list[tuple[int, str, datetime]], now: datetime) -> None:
        """Attempts read from the store: (attempt id, account, start time)."""
        cutoff = now - timedelta(hours=1)
        for attempt_id, account_id, when in rows:
            self.last_id = max(self.last_id, attempt_id)
            if attempt_id in self._seen or when <= cutoff:
                continue
            self._seen[attempt_id] = when
            insort(self._starts[account_id], when)
            self._check_full(account_id)
        for attempt_id in [i for i, when in self._seen.items() if when <= cutoff]:
            del self._seen[attempt_id]

    def _check_full(self, account_id: str) -> None:
        limit = self.per_hour.get(account_id)
        window = self._starts[account_id]
        if limit is not None and len(window) >= limit:
            # Room opens when all but limit-1 of the starts have aged out of the hour.
            self._full[account_id] = window[len(window) - limit] + timedelta(hours=1)

    @property
    def read_after(self) -> int:
        return max(self.last_id - self.LOOKBACK_IDS, 0)

    def room(self, account_id: str, now: datetime) -> int:
        """Sends this account may still start in the hour up to ``now`` (unlimited without a rate)."""
        per_hour = self.per_hour.get(account_id)
        if per_hour is None:
            return 1 << 30
        window = self._starts[account_id]
        del window[:bisect_right(window, now - timedelta(hours=1))]
        return max(per_hour - len(window), 0)

    def full(self, now: datetime) -> set[str]:
        """Accounts with no room left in their hourly window now."""
        for account_id in [a for a, opens in self._full.items() if opens <= now]:
            del self._full[account_id]
            if self.room(account_id, now) == 0:
                self._check_full(account_id)
        return set(self._full)


class AccountGates:
    """Accounts closed to claiming and why (paused / needs_reauth / platform_hold), as this hub knows it.

    The store's account states are the truth (``replace``, every 5 s, picks up what another process did); a
    pause, resume or hold made in this process closes or opens the gate at once (``close`` / ``open``).
    """

    def __init__(self) -> None:
        self._states: dict[str, str] = {}

    def replace(self, states: Mapping[str, str]) -> None:
        self._states = dict(states)

    def close(self, account_id: str, state: str) -> None:
        self._states[account_id] = state

    def open(self, account_id: str) -> None:
        self._states.pop(account_id, None)

    def state(self, account_id: str) -> str | None:
        return self._states.get(account_id)

    def held(self, account_id: str) -> bool:
        """Closed by a failure (credentials, platform hold) — a second such failure alerts nobody again."""
        return self._states.get(account_id) in HELD_STATES

    def closed(self) -> set[str]:
        return set(self._states)
