"""Read one source once: fetch (HTTP or browser), skip when unchanged, parse by kind, and
fetch article pages for the entries the caller says are new.

The cheapest parse is none: a 304 or an unchanged body hash returns before any parsing.
Parsing is CPU-bound and runs in a worker thread so the event loop keeps serving, at most
``parse_slots`` pages at once: more threads would only share the same cores, while each parse holds
its page's text and tree (a fixed budget, however many sources are due). Waiting for a slot does not
count against the poll's deadline (core.deadline).

A later list page (2, 3 …) that fails to fetch or parse does not discard the pages before it: their
entries are kept and the failure is returned in ``ReadResult.warnings``. Page 1 holds the newest
items, which are the ones a deadline hangs on; the watcher records the warning without counting
the poll as failed, and reads every page again next time (see syndicator.watcher).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from core.deadline import queued
from core.fetch import FetchError, FetchResult
from feeds.article import merge_article, parse_article
from feeds.html_list import parse_html_page
from feeds.json_list import parse_json_list
from feeds.model import Entry, ParseError
from feeds.rss import parse_feed
from feeds.specs import SourceSpec

log = logging.getLogger(__name__)
T = TypeVar("T")


class PageFetcher(Protocol):
    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    encoding: str | None = None, max_bytes: int | None = None,
                    headers: dict[str, str] | None = None) -> FetchResult: ...


@dataclass(slots=True)
class ReadResult:
    fetch: FetchResult
    body_hash: str | None = None
    changed: bool = True                      # False: 304 or same body as last time
    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # later pages that failed; their earlier pages count
    pages: int = 1                            # list pages read (1 on a 304 or unchanged body)


def _parse_page(source: SourceSpec, text: str, url: str) -> tuple[list[Entry], str | None]:
    """Entries on one page, and the next page's URL for paginated HTML lists."""
    if source.kind in ("rss", "atom"):
        return parse_feed(text, url), None
    if source.kind == "html":
        assert source.html is not None
        return parse_html_page(text, url, source.html)
    if source.kind == "json":
        assert source.json_list is not None
        return parse_json_list(text, url, source.json_list), None
    raise ParseError(f"{url}: unknown source kind {source.kind!r}")


class SourceReader:
    def __init__(self, http: PageFetcher, browser_factory: Callable[[], PageFetcher] | None = None, *,
                 parse_slots: int = 2) -> None:
        self.http = http
        self._browser_factory = browser_factory
        self._browser: PageFetcher | None = None
        self._parsing = asyncio.Semaphore(parse_slots)

    async def _parse(self, parse: Callable[..., T], *args: Any) -> T:
        with queued():
            await self._parsing.acquire()
        try:
            return await asyncio.to_thread(parse, *args)
        finally:
            self._parsing.release()

    def fetcher_for(self, source: SourceSpec) -> PageFetcher:
        if source.fetch == "browser":
            if self._browser is None:
                if self._browser_factory is None:
                    raise FetchError(f"{source.url}: source {source.id} needs fetch mode 'browser', "
                                     "which is not available in this process", url=source.url)
                self._browser = self._browser_factory()
            return self._browser
        return self.http

    async def close(self) -> None:
        closer = getattr(self._browser, "close", None)
        if closer is not None:
            await closer()

    async def read(self, source: SourceSpec, *, etag: str | None = None, last_modified: str | None = None,
                   last_body_hash: str | None = None) -> ReadResult:
        fetcher = self.fetcher_for(source)
        first = await fetcher.fetch(source.url, etag=etag, last_modified=last_modified,
                                    encoding=source.encoding, max_bytes=source.max_bytes, headers=source.headers)
        if first.not_modified:
            return ReadResult(first, last_body_hash, changed=False)
        body_hash = hashlib.sha256(first.body).hexdigest()
        if body_hash == last_body_hash:
            return ReadResult(first, body_hash, changed=False)
        entries, next_url = await self._parse(_parse_page, source, first.text, first.url)
        pages = source.html.pages if source.html else 1
        seen_urls = {first.url}
        warnings: list[str] = []
        read = 1
        for number in range(2, pages + 1):
            if not next_url or next_url in seen_urls:
                break
            seen_urls.add(next_url)
            try:
                page = await fetcher.fetch(next_url, encoding=source.encoding, max_bytes=source.max_bytes,
                                           headers=source.headers)
                more, next_url = await self._parse(_parse_page, source, page.text, page.url)
            except (FetchError, ParseError) as exc:
                log.warning("source %s: list page %d failed, keeping the %d entries before it: %s",
                            source.id, number, len(entries), exc)
                warnings.append(f"list page {number} failed ({exc}); kept the {len(entries)} entries before it")
                break
            entries.extend(more)
            read += 1
        return ReadResult(first, body_hash, True, _unique(entries), warnings, read)

    async def complete(self, source: SourceSpec, entry: Entry) -> Entry:
        """Fill body and real publication time from the article page (when the source asks for it)."""
        if source.article is None or not source.article.enabled:
            return entry
        page = await self.fetcher_for(source).fetch(entry.url, encoding=source.encoding,
                                                    max_bytes=source.max_bytes, headers=source.headers)
        article = await self._parse(parse_article, page.text, page.url, source.article, entry.summary)
        # The list's identity stays the key, so the next poll knows this entry without its page.
        entry.guid = entry.stable_id
        if article.guid:
            entry.extra.setdefault("manuscript_id", article.guid)
        return merge_article(entry, article)


def _unique(entries: list[Entry]) -> list[Entry]:
    seen: set[str] = set()
    out = []
    for e in entries:
        if e.stable_id not in seen:
            seen.add(e.stable_id)
            out.append(e)
    return out
