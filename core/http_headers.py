"""HTTP response headers both sides of the hub obey: Retry-After and Cache-Control max-age.

Both are upstream-controlled numbers that end up in ``now + timedelta(seconds=…)``, so anything
that is not a plain non-negative number (``inf``, ``1e12``, ``-5``, Unicode digits) is ignored and
what is left is clamped to ``MAX_HEADER_SECONDS``: a header must never overflow a datetime or park
a job for years. Callers clamp further to their own backoff caps.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_HEADER_SECONDS = 30 * 86400.0              # 30 days: longer than any sane Retry-After or max-age
_SECONDS = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


def _seconds(text: str) -> float | None:
    """A plain decimal number of seconds, clamped; None for anything else."""
    if not _SECONDS.fullmatch(text):
        return None
    if len(text.partition(".")[0]) > 9:        # beyond the clamp anyway; never build a huge int
        return MAX_HEADER_SECONDS
    return min(float(text), MAX_HEADER_SECONDS)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), within
    ``[0, MAX_HEADER_SECONDS]``; None when absent or not understood."""
    if not value:
        return None
    value = value.strip()
    if value[:1].isdigit():
        return _seconds(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, delta), MAX_HEADER_SECONDS)


def parse_max_age(cache_control: str | None) -> float | None:
    """max-age (or s-maxage) of a Cache-Control header, in seconds (RFC 9111 §5.2.2.1), clamped."""
    if not cache_control:
        return None
    for part in cache_control.split(","):
        name, _, arg = part.strip().partition("=")
        if name.lower() in ("max-age", "s-maxage") and (seconds := _seconds(arg.strip().strip('"'))) is not None:
            return seconds
    return None
