"""Freshness and replay checks for the WeChat server URL, shared by every hub through the store.

In plain mode WeChat's ``signature`` is SHA-1 over token, timestamp and nonce only — not the body
(https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html) — so a URL
seen once (a proxy's access log) could be replayed with any body. What stands in the way:
- the timestamp must be within ``window_s`` (300 s) of our clock, either side;
- each nonce is remembered for twice that window (the whole time its timestamp can pass) and a second
  use is refused;
- a message is acted on once: MsgId (events: sender + CreateTime + event + its id) is claimed with one
  atomic insert-if-absent in the store, so copies arriving together at several hubs act once;
- anything that acts needs safe mode, where ``msg_signature`` covers the encrypted body (callback.py).

Every refusal is logged (account, reason, peer; never the query string, which carries signatures) and
counted for /metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from aiohttp import web

from core.clock import Clock

log = logging.getLogger(__name__)
PREFIX = "wechat:"
Refused = Callable[[str, str], None]          # (account_id, reason)


class SeenStore(Protocol):
    """The part of the store's KeyValue the callback uses (``StoreKeyValue``)."""

    async def get(self, key: str, max_age_s: float = 0) -> str | None: ...

    async def put(self, key: str, value: str, ttl_seconds: float | None = None) -> None: ...

    async def add(self, key: str, value: str, ttl_seconds: float) -> bool: ...

    async def purge(self, prefix: str) -> int: ...


class CallbackGuard:
    def __init__(self, seen: SeenStore, clock: Clock, refused: Refused | None = None, *,
                 window_s: float = 300.0, dedupe_ttl_s: float = 600.0, purge_every_s: float = 300.0) -> None:
        self.seen, self.clock = seen, clock
        self.refused = refused or (lambda account, reason: None)
        self.window_s, self.dedupe_ttl_s, self.purge_every_s = window_s, dedupe_ttl_s, purge_every_s
        self._purged = time.monotonic()

    def refuse(self, request: web.Request, account_id: str, reason: str, status: int = 403) -> web.Response:
        log.warning("wechat callback %s: refused %s %s from %s", account_id or "(unknown account)", request.method,
                    reason, request.remote)
        self.refused(account_id, reason)
        return web.Response(status=status, text="forbidden" if status == 403 else "bad request")

    def stale(self, timestamp: str) -> bool:
        """True unless ``timestamp`` (Unix seconds) is within the window of our clock."""
        if not timestamp.isdigit() or len(timestamp) > 12:
            return True
        return abs(self.clock.now().timestamp() - int(timestamp)) > self.window_s

    async def nonce_is_new(self, account_id: str, timestamp: str, nonce: str) -> bool:
        """Remember the nonce for as long as its timestamp could be accepted; False when seen before."""
        if not nonce or len(nonce) > 64:
            return False
        await self._maybe_purge()
        return await self.seen.add(f"{PREFIX}nonce:{account_id}:{nonce}", timestamp, 2 * self.window_s + 60)

    async def first_time(self, key: str) -> bool:
        """Claim a message id: True for exactly one of any number of copies (across hubs)."""
        return await self.seen.add(key, "-", self.dedupe_ttl_s)

    async def _maybe_purge(self) -> None:
        if time.monotonic() - self._purged < self.purge_every_s:
            return
        self._purged = time.monotonic()
        try:
            removed = await self.seen.purge(PREFIX)
        except Exception as exc:        # housekeeping only: never fail a callback for it
            log.warning("wechat callback: purging expired nonces failed: %s", type(exc).__name__)
            return
        if removed:
            log.debug("wechat callback: purged %d expired nonces and message ids", removed)
