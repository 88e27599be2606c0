"""RSS and Atom through feedparser, made safe and cheap.

feedparser 6 does not use defusedxml and its entity stripping is a line-anchored regex that a
one-line DOCTYPE bypasses (docs/facts.md), so a document with an ``<!ENTITY`` declaration or a
DOCTYPE internal subset anywhere in it is refused before feedparser sees the body (the body is
size-capped by the fetcher, and the scan is linear). We sanitise and absolutise HTML ourselves
later (nh3), so feedparser's own sanitize_html and resolve_relative_uris — the bulk of its cost —
are turned off.

Dates go through ``feeds.dates`` first: feedparser reads "CST" as US Central and naive times as
UTC, while a Chinese government feed means China Standard Time and Beijing time. feedparser's
reading is used only when ``feeds.dates`` finds no date at all in the text.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from feeds.dates import parse_or_flag
from feeds.model import Entry, ParseError

_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(r"<!ENTITY", re.IGNORECASE)


def reject_entity_declarations(text: str, url: str = "") -> None:
    """Refuse documents that declare entities or carry a DOCTYPE internal subset, wherever they
    are (billion-laughs and external entities). A plain ``<!DOCTYPE rss PUBLIC "…" "…">`` passes."""
    where = url or "feed"
    if _ENTITY.search(text):
        raise ParseError(f"{where}: DOCTYPE declares XML entities; refused (possible entity-expansion attack)")
    pos = 0
    while m := _DOCTYPE.search(text, pos):
        end = text.find(">", m.end())
        if text.find("[", m.end(), len(text) if end < 0 else end) >= 0:
            raise ParseError(f"{where}: DOCTYPE has an internal subset; refused (possible entity-expansion attack)")
        if end < 0:
            return
        pos = end + 1                          # each stretch is scanned once: linear in the body


_BAD_CHARREF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _charref_or_replacement(m: re.Match[str]) -> str:
    """feedparser's loose parser crashes on references to surrogates or beyond U+10FFFF."""
    code = int(m[1], 16) if m[1] else int(m[2])
    return m[0] if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "&#xFFFD;"


def parse_feed(text: str, base_url: str, *, fast: bool = True) -> list[Entry]:
    """Entries of an RSS/Atom document (already decoded). Runs CPU-bound: call it in a thread."""
    reject_entity_declarations(text, base_url)
    data = _BAD_CHARREF.sub(_charref_or_replacement, text).encode("utf-8", "replace")   # lone surrogates too
    try:
        parsed: Any = feedparser.parse(
            data,
            response_headers={"content-type": "application/xml; charset=utf-8", "content-location": base_url},
            sanitize_html=not fast,
            resolve_relative_uris=not fast,
        )
    except Exception as exc:  # a third-party parser bug is this feed's problem, not the hub's
        raise ParseError(f"{base_url}: feedparser could not read it ({type(exc).__name__}: {exc})") from exc
    if not parsed.get("version"):
        start = " ".join(text[:80].split())
        raise ParseError(f"{base_url}: not an RSS/Atom feed (starts with {start!r})")
    if parsed.bozo and not parsed.entries:
        raise ParseError(f"{base_url}: not a readable RSS/Atom feed ({parsed.get('bozo_exception')})")
    entries = []
    for e in parsed.entries:
        link = urljoin(base_url, e.get("link") or "")
        if not link.startswith(("http://", "https://")):
            continue
        content = ""
        if e.get("content"):
            content = e["content"][0].get("value", "")
        # dict.get: FeedParserDict's own get maps a missing "published" to "updated" with a warning
        raw_date = dict.get(e, "published") or dict.get(e, "updated") or ""
        published, problem = _date(raw_date, e)
        entries.append(Entry(
            url=link,
            title=(e.get("title") or "").strip(),
            guid=e.get("id") or "",
            summary=e.get("summary") or "",
            content=content or e.get("summary") or "",
            published_at=published,
            published_raw=raw_date,
            date_problem=problem,
            categories=tuple(t.get("term", "") for t in e.get("tags") or [] if t.get("term")),
        ))
    return entries


def _date(raw: str, entry: Any) -> tuple[datetime | None, str | None]:
    """``feeds.dates`` first (CST = China, naive = Beijing); feedparser's UTC stamp only for a text
    ``feeds.dates`` sees no date in at all. A date it flags stays flagged."""
    if not raw.strip():
        return None, None
    when, problem = parse_or_flag(raw)
    if when is not None or problem is not None:
        return when, problem
    stamp = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if stamp:
        try:
            return datetime.fromtimestamp(calendar.timegm(stamp), UTC), None
        except (OverflowError, ValueError, OSError):
            pass
    return None, f"unreadable date {raw[:80]!r}"
