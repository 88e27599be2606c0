"""Password hashes for dashboard logins: PBKDF2-HMAC-SHA256 from the standard library, in the
``pbkdf2_sha256$<iterations>$<salt>$<hash>`` form the config file holds. No web code here: the
configuration validates hashes with it, the dashboard checks logins with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PBKDF2_ITERATIONS = 600_000          # OWASP 2023 recommendation for PBKDF2-HMAC-SHA256
_HASH = re.compile(r"^pbkdf2_sha256\$(\d{1,8})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$")


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>`` (standard base64)."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def parse_hash(encoded: str) -> tuple[int, bytes, bytes]:
    m = _HASH.match(encoded.strip())
    if not m or int(m.group(1)) < 1:
        raise ValueError("not a pbkdf2_sha256$<iterations>$<salt>$<hash> value (make one with main.py hash-password)")
    return int(m.group(1)), base64.b64decode(m.group(2)), base64.b64decode(m.group(3))


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of a password against an encoded hash (blocking: run it in a thread)."""
    try:
        iterations, salt, expected = parse_hash(encoded)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, dklen=len(expected))
    return hmac.compare_digest(actual, expected)
