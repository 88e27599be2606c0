"""What the parsers hand to the hub: upstream entries before rules and de-duplication."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Entry:
    """One upstream list entry (and, after the article step, its page)."""

    url: str                                  # absolute
    title: str
    guid: str = ""                            # upstream id when it has one (manuscriptId, RSS guid)
    summary: str = ""
    content: str = ""                         # raw HTML of the body when known
    published_at: datetime | None = None      # timezone-aware
    published_raw: str = ""                   # the date text as found upstream
    date_problem: str | None = None           # set when a date was missing or not understood
    body_problem: str | None = None           # why the article body failed its plausibility check (Chinese)
    categories: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)   # puborg, pcode, manuscriptId ...

    @property
    def stable_id(self) -> str:
        return self.guid or self.url


class ParseError(Exception):
    """An upstream body that cannot be read as what the source says it is."""
