"""What a checker is given and returns, and how a reprint is recognised on a page.

Titles are compared normalised (NFKC, no whitespace, no punctuation, lower case): sites re-wrap long titles,
swap full-width and half-width punctuation and insert spaces; the words themselves must all be there.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from syndicator.store.verify import Proof, VerifyTask

_TAGS = re.compile(r"<[^>]+>")
_SCRIPTS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_ANCHOR = re.compile(r"""<a\b[^>]*?href\s*=\s*["']?([^"'\s>]+)["']?[^>]*>(.*?)</a\s*>""", re.IGNORECASE | re.DOTALL)
_NOT_WORD = re.compile(r"[\W_]+")      # punctuation, symbols, whitespace (a C loop: pages are long)
_SHORT = 4          # a normalised title shorter than this could match anything: links only


def normalise(text: str) -> str:
    """Only letters and digits, NFKC-folded and lower-cased."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", html.unescape(text)).lower())


def page_text(markup: str) -> str:
    return _TAGS.sub(" ", _SCRIPTS.sub(" ", markup))


def page_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _same_link(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname or "", pa.path.rstrip("/"), pa.query) == (pb.hostname or "", pb.path.rstrip("/"), pb.query)


@dataclass(frozen=True, slots=True)
class Match:
    how: str                 # "链接" (the reprint's own link) or "标题" (its title)
    link: str | None         # the link the reprint was found at, absolute


def find_item(markup: str, base_url: str, title: str, link: str | None) -> Match | None:
    """The reprint on a page: an anchor to its own link, else an anchor whose text is its title, else (on the
    reprint's own page) its title in the text."""
    want = normalise(title)
    for href, text in _ANCHOR.findall(markup):
        absolute = urljoin(base_url, html.unescape(href))
        if link and _same_link(absolute, link):
            return Match("链接", absolute)
        if len(want) >= _SHORT and want in normalise(page_text(text)):
            return Match("标题", absolute)
    if link and _same_link(base_url, link) and len(want) >= _SHORT:
        exact = title.strip()
        if exact in markup or html.escape(exact, quote=False) in markup:    # the common case, without folding
            return Match("标题", base_url)
        if want in normalise(_TAGS.sub(" ", markup)):   # script text counts: WeChat puts msg_title in a script
            return Match("标题", base_url)
    return None


class Checker(Protocol):
    """Looks for one delivered reprint; never raises for a platform's answer (it is the proof)."""

    def host(self, task: VerifyTask) -> str:
        """The public host the check goes to (per-host concurrency)."""
        ...

    async def check(self, task: VerifyTask) -> Proof: ...


def api_proof(outcome: str, url: str, status: int | None, body: Any, reason: str, *,
              matched: str | None = None) -> Proof:
    """A proof from a platform API answer: the JSON kept, its hash as the page hash."""
    import json

    raw = json.dumps(body, ensure_ascii=False, sort_keys=True, default=str).encode()
    return Proof(outcome=outcome, url=url, http_status=status, matched=matched, page_hash=page_hash(raw),
                 api_json=body, reason=reason)
