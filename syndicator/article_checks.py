"""Which article pages the watcher fetches again, and when it gives up on a dead one (in memory).

HTML and JSON lists give a title and a date only, so a body corrected upstream is seen only by
fetching its page again. A known entry is re-fetched when its list title or date changes, and
otherwise at most one per poll — the longest unchecked first, each no more often than the source's
``article.recheck_hours``: one extra request per poll at most, and one mark per listed entry.

An article page that fails ``give_up_after`` polls in a row is stored from its list data (title,
URL, date) instead, so one dead link cannot keep a whole source failing; later rechecks may still
fill in its body. The state lives in the process, not the store: after a restart every listed entry
starts "just checked" (rechecks are delayed, never a burst) and failure counts start again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from feeds.model import Entry
from feeds.specs import RuleSpec

GIVE_UP_AFTER = 3                              # consecutive failed polls of one article page


@dataclass(slots=True)
class _Mark:
    entry: Entry                               # the list's data (not the page's), copied
    rule: RuleSpec
    checked_at: datetime


def list_copy(entry: Entry) -> Entry:
    """A copy that article merging cannot change (``complete`` fills entries in place)."""
    return dataclasses.replace(entry, extra=dict(entry.extra))


def _listing(entry: Entry) -> tuple[str, str]:
    return entry.title, entry.published_raw


class ArticleChecks:
    def __init__(self, give_up_after: int = GIVE_UP_AFTER) -> None:
        self.give_up_after = give_up_after
        self._marks: dict[str, dict[str, _Mark]] = {}          # source id -> stable id -> mark
        self._failures: dict[str, dict[str, int]] = {}         # source id -> stable id -> count

    def plan(self, source_id: str, listed: list[tuple[Entry, RuleSpec]], known: set[str], now: datetime,
             every: timedelta | None) -> set[str]:
        """Stable ids of known entries to fetch again on this poll. Forgets entries that left the list."""
        ids = {e.stable_id for e, _ in listed}
        marks = self._marks.setdefault(source_id, {})
        for gone in [sid for sid in marks if sid not in ids]:
            del marks[gone]
        failures = self._failures.setdefault(source_id, {})
        for gone in [sid for sid in failures if sid not in ids]:
            del failures[gone]
        refetch: set[str] = set()
        for entry, rule in listed:
            sid = entry.stable_id
            if sid not in known:
                continue
            mark = marks.get(sid)
            if mark is None:                   # first sight in this process: as good as just checked
                marks[sid] = _Mark(list_copy(entry), rule, now)
            elif _listing(mark.entry) != _listing(entry):
                refetch.add(sid)
        if (due := self._oldest_due(source_id, now, every, exclude=refetch)) is not None:
            refetch.add(due)
        return refetch

    def due(self, source_id: str, now: datetime, every: timedelta | None) -> tuple[Entry, RuleSpec] | None:
        """For a poll whose list did not change: the one stored entry due for a recheck, if any."""
        sid = self._oldest_due(source_id, now, every)
        if sid is None:
            return None
        mark = self._marks[source_id][sid]
        return list_copy(mark.entry), mark.rule

    def checked(self, source_id: str, listed: Entry, rule: RuleSpec, now: datetime) -> None:
        """The entry is stored (from its page, or from its list data after giving up)."""
        self._marks.setdefault(source_id, {})[listed.stable_id] = _Mark(list_copy(listed), rule, now)
        self._failures.get(source_id, {}).pop(listed.stable_id, None)

    def recheck_failed(self, source_id: str, stable_id: str, now: datetime) -> None:
        """A stored entry's page failed again: keep its old listing (a change is retried), rotate on."""
        mark = self._marks.get(source_id, {}).get(stable_id)
        if mark is not None:
            mark.checked_at = now

    def failed(self, source_id: str, stable_id: str) -> int:
        """A new entry's page failed on this poll; returns how many polls in a row it has."""
        failures = self._failures.setdefault(source_id, {})
        failures[stable_id] = failures.get(stable_id, 0) + 1
        return failures[stable_id]

    def _oldest_due(self, source_id: str, now: datetime, every: timedelta | None,
                    exclude: set[str] | frozenset[str] = frozenset()) -> str | None:
        if every is None:
            return None
        due = [(m.checked_at, sid) for sid, m in self._marks.get(source_id, {}).items()
               if sid not in exclude and now - m.checked_at >= every]
        return min(due)[1] if due else None
