"""Log set-up: records are formatted where they are made and written by a thread of their own.

The hub logs a line per delivery. Writing it from the event loop would stall every send whenever
stderr is slow (a full pipe to journald, a paused terminal); a queue hands the writing to a
listener thread instead, and ``stop`` flushes what is queued before the process exits.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
from collections.abc import Callable
from typing import TextIO

from syndicator.redact import RedactingFilter, hold_chatty_loggers

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(level: str | int, stream: TextIO) -> Callable[[], None]:
    """Send every record of the root logger to ``stream`` through a writer thread; returns ``stop``.

    Like ``logging.basicConfig``, it leaves a root logger that already has handlers (a test runner's) alone.
    """
    root = logging.getLogger()
    if root.handlers:
        return lambda: None
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(stream)
    writer.setFormatter(logging.Formatter(FORMAT))
    listener = logging.handlers.QueueListener(records, writer)
    root.addHandler(guarded(logging.handlers.QueueHandler(records)))
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    listener.start()
    return listener.stop


def guarded(handler: logging.Handler) -> logging.Handler:
    """``handler`` with secrets masked in every record it takes (syndicator.redact), and the libraries that
    echo SQL parameters held at INFO. Every handler the hub installs goes through here."""
    handler.addFilter(RedactingFilter())
    hold_chatty_loggers()
    return handler
