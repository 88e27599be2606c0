"""HMAC-SHA256 request signatures shared by the webhook and CMS channels (and their receivers).

Header form ``sha256=<hex>``, as GitHub's ``X-Hub-Signature-256``; receivers compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def verify_signature(secret: str, payload: bytes, header: str | None) -> bool:
    """Constant-time check of a signature header against the raw payload."""
    return bool(header) and hmac.compare_digest(sign(secret, payload), header or "")
