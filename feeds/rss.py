"""RSS and Atom through feedparser, made safe and cheap.

feedparser 6 does not use defusedxml and its entity stripping is a line-anchored regex that a
one-line DOCTYPE bypasses (shared/README §5), so any DOCTYPE that declares entities is refused
here before feedparser sees the body. We sanitise and absolutise HTML ourselves later (nh3), so
feedparser's own sanitize_html and resolve_relative_uris — the bulk of its cost — are turned off.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from feeds.model import Entry, ParseError

_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(r"<!ENTITY", re.IGNORECASE)


def reject_entity_declarations(text: str, url: str = "") -> None:
    """Refuse documents whose DOCTYPE declares entities (billion-laughs and external entities)."""
    m = _DOCTYPE.search(text, 0, 65536)
    if m and _ENTITY.search(text, m.start()):
        raise ParseError(f"{url or 'feed'}: DOCTYPE declares XML entities; refused (possible entity-expansion attack)")


def parse_feed(text: str, base_url: str, *, fast: bool = True) -> list[Entry]:
    """Entries of an RSS/Atom document (already decoded). Runs CPU-bound: call it in a thread."""
    reject_entity_declarations(text, base_url)
    parsed: Any = feedparser.parse(
        text.encode("utf-8"),
        response_headers={"content-type": "application/xml; charset=utf-8", "content-location": base_url},
        sanitize_html=not fast,
        resolve_relative_uris=not fast,
    )
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
        raw_date = e.get("published") or e.get("updated") or ""
        stamp = e.get("published_parsed") or e.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
        entries.append(Entry(
            url=link,
            title=(e.get("title") or "").strip(),
            guid=e.get("id") or "",
            summary=e.get("summary") or "",
            content=content or e.get("summary") or "",
            published_at=published,
            published_raw=raw_date,
            date_problem=f"unreadable date {raw_date!r}" if raw_date and not stamp else None,
            categories=tuple(t.get("term", "") for t in e.get("tags") or [] if t.get("term")),
        ))
    return entries
