"""Remove credentials from text bound for logs, exceptions and operator-facing reasons.

Platforms echo what they were sent in their error text (a token in a URL, a parameter value in Weibo's
10017 message), so every client runs platform text through ``scrub`` before it becomes a reason or detail.
"""

from __future__ import annotations

import re

# name=value pairs in URLs and form bodies, and Authorization header values (Basic/OAuth2/Bearer).
_PAIR_RE = re.compile(r"(access_token|appsecret|master_secret|secret|token)=[^&\s'\"]+", re.IGNORECASE)
_AUTH_RE = re.compile(r"\b(Basic|OAuth2|Bearer) [A-Za-z0-9+/=._~-]{8,}")


def scrub(text: str, *secrets: str) -> str:
    """``text`` with known secret values and token-shaped parameters replaced by ***."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _PAIR_RE.sub(r"\1=***", text)
    return _AUTH_RE.sub(r"\1 ***", text)
