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
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.port and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    path = parts.path or "/"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                             if not _TRACKING.match(k)))
    return f"//{host}{path}" + (f"?{query}" if query else "")


def content_hash(title: str, body_text: str) -> str:
    """Hash of the body text (whitespace folded); of the title when there is no body."""
    basis = _SPACE.sub("", body_text) or _SPACE.sub("", title)
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()
