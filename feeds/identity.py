"""What makes two upstream entries the same document: normalised URL and content hash."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

_TRACKING = re.compile(r"^(utm_|spm$|from$|share)", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """Scheme-less, lower-case host, no default port, fragment or tracking parameters.

    gov.cn serves the same page over http and https and with share parameters; all are one page.
    A URL Python cannot split (bad IPv6 literal, port out of range) is returned stripped, as is:
    it still identifies itself, and de-duplication must not raise.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    if port and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    path = parts.path or "/"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING.match(k)))
    return f"//{host}{path}" + (f"?{query}" if query else "")


def content_hash(title: str, body_text: str, *, url: str = "") -> str:
    """Hash of the body text (whitespace folded): equal hashes mean the same document.

    A body without text (a scanned notice that is one image, or no body yet) is no evidence of
    sameness — periodic 任免 notices share their titles — so its hash is taken over a marker, the
    canonical URL and the title: it never equals a body-text hash nor another page's, and stays
    stable for the same page (no false "updated" on a re-check). Pass ``url``; without it, two
    text-less documents with one title still share a hash.
    """
    text = _SPACE.sub("", body_text)
    if text:
        basis = text
    else:
        basis = "\x00no-body-text\x00" + (canonical_url(url) if url else "") + "\x00" + _SPACE.sub("", title)
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()
