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


@dataclass(slots=True)
class FetchResult:
    """One HTTP exchange with an upstream site, already size-capped and decoded."""

    url: str                                  # the URL finally answered (after redirects)
    status: int
    body: bytes = b""
    text: str = ""
    encoding: str = ""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""
    retry_after: float | None = None          # seconds, from Retry-After
    max_age: float | None = None              # seconds, from Cache-Control

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """A fetch that produced no usable body. The message names the URL and what went wrong."""

    def __init__(self, message: str, *, url: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry_after = retry_after


class ParseError(Exception):
    """An upstream body that cannot be read as what the source says it is."""
