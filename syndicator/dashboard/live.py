"""Live pages: the overview and the deliveries page update themselves while they are open.

One watcher per process (not per browser) reads the store's change marks (``Store.change_marks``: counts
per state, latest update, newest alert, latest account change) every ``interval`` seconds while at least one
page listens, and every ``refresh`` seconds anyway (a deadline passing changes a page without changing a
row). Each open page holds one server-sent-events stream (``/live/events``, behind the same login as the
pages); on a change it is told so, and its script (static/live.js, allowed by ``script-src 'self'``) fetches
the page again and swaps the regions marked ``data-live``, with the time shown as "更新于 HH:MM:SS".

Bounded: at most ``max_streams`` streams (more get a 503 and the page says it is not updating), a heartbeat
comment every ``heartbeat`` seconds keeps proxies from closing an idle stream, a stream ends within a second
of its client leaving, and all of them end when the server shuts down (``on_shutdown``), so the runner's
cleanup never waits for them. A failed read of the marks is told to the page (it shows that it is not
current), never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from syndicator.dashboard import render as r
from syndicator.web_keys import CLOCK, SETTINGS, STORE

log = logging.getLogger(__name__)
SCRIPT = (Path(__file__).parent / "static" / "live.js").read_text(encoding="utf-8")
EVENTS_PATH = "/live/events"
SCRIPT_PATH = "/static/live.js"
TROUBLE = "暂时读不到最新数据（数据库无响应），页面内容可能不是最新，系统会自动重试"
BUSY = "同时打开的自动更新页面过多，本页暂不自动更新，请稍后刷新页面"


class LiveFeed:
    """Tells every open live page when the store's change marks move."""

    def __init__(self, marks: Callable[[], Awaitable[Any]], *, interval: float = 3.0, heartbeat: float = 15.0,
                 refresh: float = 60.0, max_streams: int = 20, check: float = 1.0) -> None:
        self.marks, self.interval, self.heartbeat, self.refresh = marks, interval, heartbeat, refresh
        self.max_streams, self.check = max_streams, check      # check: how soon a gone client is noticed
        self.version = 0
        self.trouble: str | None = None
        self.streams = 0
        self.closing = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        self.streams += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="dashboard-live")

    def detach(self) -> None:
        self.streams -= 1              # the watcher ends by itself once nobody listens

    async def close(self, _app: web.Application | None = None) -> None:
        """Server shutdown: every stream says goodbye and ends; the watcher stops."""
        self.closing.set()
        self._bump()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        last: Any = None
        shown = loop.time()
        while self.streams > 0 and not self.closing.is_set():
            try:
                marks = await self.marks()
            except Exception as exc:          # shown on every open page, and logged once per spell
                if self.trouble is None:
                    log.warning("dashboard live: cannot read the change marks: %s", exc)
                    self.trouble = TROUBLE
                    self._bump()
            else:
                recovered = self.trouble is not None
                self.trouble = None
                if recovered or (last is not None and marks != last) or loop.time() - shown >= self.refresh:
                    shown = loop.time()
                    self._bump()
                last = marks
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), self.interval)

    async def wait(self, seen: int, within: float) -> int:
        """The version after ``seen`` once it moves, or ``seen`` again after ``within`` seconds."""
        if self.version != seen:
            return self.version
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), within)
        return self.version


LIVE: web.AppKey[LiveFeed] = web.AppKey("dashboard_live", LiveFeed)


def event(name: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n".encode()


def stamp(app: web.Application) -> str:
    """"HH:MM:SS" in Beijing time, by the hub's clock."""
    return app[CLOCK].now().astimezone(app[SETTINGS].deadlines.tz).strftime("%H:%M:%S")


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /live/events``: text/event-stream of "change" (with the time), "trouble" and "bye" events."""
    feed, app = request.app[LIVE], request.app
    if feed.closing.is_set() or feed.streams >= feed.max_streams:
        return web.Response(status=503, text=BUSY, content_type="text/plain", charset="utf-8",
                            headers={**r.SECURITY_HEADERS, "Retry-After": "60"})
    resp = web.StreamResponse(headers={**r.SECURITY_HEADERS, "X-Accel-Buffering": "no"})   # nginx: do not buffer
    resp.content_type, resp.charset = "text/event-stream", "utf-8"
    loop = asyncio.get_running_loop()
    feed.attach()
    try:
        await resp.prepare(request)
        await resp.write(b"retry: 5000\n" + event("hello", stamp(app)))
        seen, wrote = feed.version, loop.time()
        while not feed.closing.is_set():
            if request.transport is None or request.transport.is_closing():
                break                                         # the page was closed
            version = await feed.wait(seen, feed.check)
            if feed.closing.is_set():
                await resp.write(event("bye", "服务正在重启，稍后自动重新连接"))
                break
            if version != seen:
                seen = version
                await resp.write(event("trouble", feed.trouble) if feed.trouble else event("change", stamp(app)))
                wrote = loop.time()
            elif loop.time() - wrote >= feed.heartbeat:
                await resp.write(b": keep-alive\n\n")
                wrote = loop.time()
    except ConnectionResetError:
        pass                                                  # the client left mid-write
    finally:
        feed.detach()
    return resp


async def script(_request: web.Request) -> web.Response:
    return web.Response(text=SCRIPT, content_type="text/javascript", charset="utf-8", headers=r.SECURITY_HEADERS)


def setup_live(app: web.Application, guard: Callable[[Any], Any]) -> None:
    feed = LiveFeed(app[STORE].change_marks)
    app[LIVE] = feed
    app.on_shutdown.append(feed.close)
    app.router.add_get(EVENTS_PATH, guard(events))
    app.router.add_get(SCRIPT_PATH, script)
