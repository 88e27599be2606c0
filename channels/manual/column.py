"""Finding a reprint on a unit's public pages: its column list page, or the page the 信息员 reported.

Pages are fetched with the upstream fetch rules (core.fetch.Fetcher: time and size caps, per-host
concurrency, strict charset decision with GBK read as gb18030). Titles are compared normalised (NFKC, no
whitespace or punctuation), because CMS templates add spaces, full-width punctuation or cut long titles
with "..."; a cut title matches when what is left is a long enough prefix of the item's title.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from core.fetch import Fetcher

_DROP = re.compile(r"[\W_]+", re.UNICODE)
_CUT = ("...", "…", "……", "..")
MIN_PREFIX = 12            # characters a cut title must keep to count as the item's


def normalise_title(text: str) -> str:
    return _DROP.sub("", unicodedata.normalize("NFKC", text)).lower()


def normalise_link(url: str) -> str:
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/"
    return f"{parts.netloc.lower()}{path}{'?' + parts.query if parts.query else ''}"


def title_matches(item_title: str, shown: str) -> bool:
    want, got = normalise_title(item_title), normalise_title(shown)
    if not want or not got:
        return False
    if want in got:
        return True
    stripped = shown.strip()
    if stripped.endswith(_CUT) and len(got) >= MIN_PREFIX:
        return want.startswith(got)
    return False


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []          # (href, text + title attribute)
        self.text: list[str] = []
        self.page_title = ""
        self._open: list[list[str]] = []
        self._in_title = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "a":
            a = dict(attrs)
            self._open.append([a.get("href") or "", a.get("title") or ""])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif tag == "a" and self._open:
            href, *texts = self._open.pop()
            self.links.append((href, " ".join(texts)))

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.page_title += data
        self.text.append(data)
        for entry in self._open:
            entry.append(data)


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where the item was seen, kept as proof."""

    page_url: str          # the page fetched (after redirects)
    link: str              # the reprint's own link (column page) or the page itself (reported URL)
    shown_title: str
    status: int
    fetched_at: datetime
    page_sha256: str


async def find_on_column(fetcher: Fetcher, column_url: str, title: str, upstream_url: str, *, match: str,
                         encoding: str | None, now: datetime) -> Sighting | None:
    """The item's entry on the column list page, or None. Raises feeds.model.FetchError when unreadable."""
    result = await fetcher.fetch(column_url, encoding=encoding)
    parser = _Links()
    parser.feed(result.text)
    want_link = normalise_link(upstream_url) if upstream_url else ""
    for href, shown in parser.links:
        absolute = urljoin(result.url, href) if href else ""
        by_title = match in ("title", "title_or_link") and title_matches(title, shown)
        by_link = (match in ("link", "title_or_link") and bool(absolute) and bool(want_link)
                   and normalise_link(absolute) == want_link)
        if by_title or by_link:
            return Sighting(result.url, absolute or result.url, " ".join(shown.split()), result.status, now,
                            hashlib.sha256(result.body).hexdigest())
    return None


async def find_on_page(fetcher: Fetcher, url: str, title: str, *, encoding: str | None,
                       now: datetime) -> Sighting | None:
    """The reported reprint page shows the item: its <title> or its text holds the item's title."""
    result = await fetcher.fetch(url, encoding=encoding)
    parser = _Links()
    parser.feed(result.text)
    want = normalise_title(title)
    if not want:
        return None
    if want in normalise_title(parser.page_title) or want in normalise_title("".join(parser.text)):
        return Sighting(result.url, result.url, title, result.status, now, hashlib.sha256(result.body).hexdigest())
    return None
