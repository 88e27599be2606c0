"""One redaction function for every place text leaves the process: log lines, error messages, the
JSON API, the dashboard, the delay log and the command line.

Three things are masked:
- the user-info of a URL (``https://user:pw@host`` → ``https://***@host``);
- the value of a query parameter (or ``name=value`` pair) whose name says it is a secret
  (``token``, ``key``, ``secret``, ``password``, ``access_token``, ``sign``, and names containing them, such
  as ``appsecret``, ``master_secret``, ``msg_signature``);
- every secret value the configuration resolved (``register_secrets``), however it appears.

The known values live in one process-wide set because logging itself is process-wide: a log filter
cannot be handed the settings of whichever hub wrote the record.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

MASK = "***"
SECRET_NAMES = ("token", "key", "secret", "password", "passwd", "sign", "credential")
# name=value where the name contains a secret word: in query strings, form bodies and "k=v" log text.
_PAIR = re.compile(r"(?i)(?<![A-Za-z0-9_])([A-Za-z0-9_.\-]*(?:" + "|".join(SECRET_NAMES) + r")[A-Za-z0-9_.\-]*=)"
                   r"(?!\*\*\*)([^&#\s\"'<>,;)\]}]+)")
# JSON / dict style: "access_token": "…" or 'secret': '…'
_QUOTED = re.compile(r"(?i)([\"'][A-Za-z0-9_.\-]*(?:" + "|".join(SECRET_NAMES) + r")[A-Za-z0-9_.\-]*[\"']\s*:\s*[\"'])"
                     r"(?!\*\*\*)([^\"']+)")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@\"'<>]+)@")
MIN_SECRET_LEN = 4
# A province has tens of thousands of accounts: known values are found by cutting the text into ASCII
# words (letters, digits and ._~+%$!*^`-) and looking each word up in a set, linear in the text, not in
# the number of secrets. Values with other characters ("/" or "=" of base64, "user:pw", non-ASCII) are
# searched for one by one.
_WORD = re.compile(r"[A-Za-z0-9._~+%$!*^`-]+")
_words: set[str] = set()
_others: tuple[str, ...] = ()


def register_secrets(values: Iterable[str]) -> None:
    """Remember secret values (and their URL- and HTML-escaped forms) so they are masked wherever they appear."""
    global _others
    others = set(_others)
    for value in values:
        if value and len(value) >= MIN_SECRET_LEN:
            for form in {value, quote(value, safe=""), quote_plus(value), html.escape(value, quote=True)}:
                (_words.add if _WORD.fullmatch(form) else others.add)(form)
    _others = tuple(sorted(others, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with URL user-info, secret-named parameters and every registered secret value masked."""
    if not text:
        return text
    for value in _others:
        if value in text:
            text = text.replace(value, MASK)
    if _words:
        text = _WORD.sub(_mask_word, text)
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _PAIR.sub(lambda m: m.group(1) + MASK, text)
    return _QUOTED.sub(lambda m: m.group(1) + MASK, text)


def _mask_word(m: re.Match[str]) -> str:
    word = m.group()
    if word in _words:
        return MASK
    bare = word.rstrip(".")                 # a secret ending a sentence: "… token 2.00abc."
    return MASK + word[len(bare):] if bare != word and bare in _words else word


def redact_any(value: Any) -> Any:
    """``redact`` applied to every string inside nested dicts, lists and tuples (API and JSON views)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_any(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_any(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Formats each record's message (and traceback) once and masks it, before any handler writes it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:       # a bad format string: keep the raw message, still masked
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# Libraries that log SQL parameters (aiosqlite: "executing <fn> <args>" at DEBUG) or connection
# details would write access tokens stored in kv; they are held at INFO whatever the chosen level.
CHATTY_LOGGERS = ("aiosqlite", "asyncpg")


def hold_chatty_loggers() -> None:
    for name in CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.INFO or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


class RedactingStream:
    """A text stream wrapper for command-line output: every write goes through ``redact``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
