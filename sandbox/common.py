"""What every sandbox look-alike shares: a record of what it received and fault injection.

Each look-alike is its own aiohttp application (as the real services are separate hosts) and
mounts ``/_sandbox/received`` (GET: JSON list), ``/_sandbox/faults`` (GET/POST: the fault
settings) and ``/_sandbox/reset`` (POST) through ``add_sandbox_routes``.

Two kinds of trouble: before the call takes effect (``latency_ms``, outages, error codes: nothing happened) and
after it (``latency_after_ms``, ``drop_response_rate``, ``drop_responses``: the post was made, then the reply is
slow or lost — the case a sender cannot tell from "never arrived"). The after-kind applies to the one call of
each platform that publishes (Weibo statuses/share, JPush push, CMS create, WeChat freepublish/submit and
mass/sendall), once it has succeeded; see ``FaultInjector.reply_lost``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

REDACTED_KEYS = {"access_token", "authorization", "secret", "appsecret", "master_secret", "password"}


class Faults(BaseModel):
    """Fault settings, settable from config or at run time via POST /_sandbox/faults."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(0.0, ge=0.0, le=1.0)   # share of API calls answered with one of `codes`
    codes: list[int] = []                              # platform error codes drawn for error_rate
    script: list[int] = []                             # codes for the next calls, in order, then normal
    latency_ms: int = Field(0, ge=0)                  # before anything happens
    latency_after_ms: int = Field(0, ge=0)            # a post is made, then its reply waits this long
    drop_response_rate: float = Field(0.0, ge=0.0, le=1.0)   # share of made posts whose reply is lost
    drop_responses: int = Field(0, ge=0)              # lose the replies of the next N made posts, then normal
    token_expiry_after: int | None = None              # tokens die after this many API calls
    outages: list[tuple[float, float]] = []            # (start, end) s since start: answer HTTP 503
    seed: int = 0


class FaultInjector:
    def __init__(self, faults: Faults | None = None) -> None:
        self.started = time.monotonic()
        self.configure(faults or Faults())

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self.script: deque[int] = deque(faults.script)
        self.rng = random.Random(faults.seed)
        self.drops_left = faults.drop_responses
        self.dropped = 0                                   # replies lost so far (tests check the fault fired)

    def in_outage(self) -> bool:
        t = time.monotonic() - self.started
        return any(start <= t < end for start, end in self.faults.outages)

    async def delay(self) -> None:
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)

    async def reply_lost(self, request: web.Request) -> bool:
        """Call once a post has taken effect: delay its reply, or drop the connection without one.

        True when the reply was dropped; the handler may still return a response, nobody will read it.
        """
        if self.faults.latency_after_ms:
            await asyncio.sleep(self.faults.latency_after_ms / 1000)
        drop = self.drops_left > 0
        if drop:
            self.drops_left -= 1
        elif self.faults.drop_response_rate:
            drop = self.rng.random() < self.faults.drop_response_rate
        if drop and request.transport is not None:
            self.dropped += 1
            request.transport.close()          # the client sees the server disconnect: the answer is gone
        return drop

    def next_code(self) -> int | None:
        """An injected platform error code for this call, or None to behave normally."""
        if self.script:
            return self.script.popleft()
        if self.faults.codes and self.faults.error_rate and self.rng.random() < self.faults.error_rate:
            return self.rng.choice(self.faults.codes)
        return None


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k.lower() in REDACTED_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class Recorder:
    """Everything a look-alike received, in order, secrets redacted."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def record(self, request: web.Request, body: Any, **extra: Any) -> dict[str, Any]:
        entry = {
            "seq": len(self.entries) + 1,
            "at": time.time(),
            "method": request.method,
            "path": request.path,
            "query": redact(dict(request.query)),
            "headers": redact({k.lower(): v for k, v in request.headers.items()
                               if k.lower() not in ("host", "content-length", "user-agent", "accept-encoding")}),
            "body": redact(body),
            **extra,
        }
        self.entries.append(entry)
        return entry


RECORDER = web.AppKey("sandbox_recorder", Recorder)
FAULTS = web.AppKey("sandbox_faults", FaultInjector)


def add_sandbox_routes(app: web.Application, faults: Faults | None = None) -> None:
    """Give a look-alike app its recorder, fault injector and inspection routes."""
    app[RECORDER] = Recorder()
    app[FAULTS] = FaultInjector(faults)

    async def received(request: web.Request) -> web.Response:
        return web.json_response(request.app[RECORDER].entries)

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(request.app[FAULTS].faults.model_dump())

    async def set_faults(request: web.Request) -> web.Response:
        try:
            faults = Faults.model_validate(await request.json())
        except Exception as exc:
            return web.json_response({"error": str(exc)}, status=400)
        request.app[FAULTS].configure(faults)
        return web.json_response(faults.model_dump())

    async def reset(request: web.Request) -> web.Response:
        request.app[RECORDER].entries.clear()
        request.app[FAULTS].configure(Faults())
        return web.json_response({"ok": True})

    app.router.add_get("/_sandbox/received", received)
    app.router.add_get("/_sandbox/faults", get_faults)
    app.router.add_post("/_sandbox/faults", set_faults)
    app.router.add_post("/_sandbox/reset", reset)
