"""Browser fetch mode: Playwright driving Debian's Chromium, for sites behind a JavaScript bot
gate (the Hubei portal answers HTTP 412 with a script that sets a cookie and reloads).

One browser per process, launched on first use; one context whose cookies are reused until the
gate stops accepting them (then a fresh context is tried once). Playwright is an optional extra
(``syndicator[browser]``) and is imported only here, only when a browser source is polled.

``FetchResult`` has the HTTP fetcher's shape. ``body`` is the final document as served (stable, for
the unchanged-body hash) — for text documents Chromium returns it decoded and re-encoded as UTF-8,
so ``encoding`` is then "utf-8"; ``text`` is the rendered DOM for HTML (scripts such as TRS pagers
have run) or the decoded body for JSON/XML. There is no conditional GET in this mode.

The HTTP fetcher's limits hold here too. Every Playwright call is bounded by the fetch timeout (a
page busy-looping after "load" would otherwise hang ``page.content()`` for ever); at most
``per_host`` pages per host are open at once; more than ``max_redirects`` HTTP redirects before the
final document, or a final URL that is not http(s), is refused; the served body and the rendered
DOM are each refused beyond the byte cap (the DOM counted in characters), both measured inside the
page before anything is copied to Python.

User-Agent: the context presents Chromium's own, with "HeadlessChrome" written as "Chrome" — what
this client is, minus the marker firewalls reject outright (the policy library's answers 403).
A configured ``user_agent`` is used instead only when it is itself a browser's ("Mozilla/5.0 …");
a bot-style one such as the hub default "syndicator/0.1 …" (which the HTTP fetcher sends) is not,
since this mode exists for the sites that turn such clients away. A source's own ``headers`` are
sent on its requests, a User-Agent among them (on the wire; scripts still see the context's).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from core.fetch import FetchError, FetchResult, decode_body, parse_max_age, parse_retry_after
from core.host_limits import HostLimits

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
GATE_STATUSES = frozenset({412, 521})         # 412: Ruishu-style gates; 521: Jiasule-style
BLOCKED_RESOURCES = frozenset({"image", "media", "font"})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
CLOSE_TIMEOUT = 10.0                           # seconds
# Measured in the page, so nothing oversized is copied to Python: the document's decoded size as
# served (Navigation Timing) and the rendered DOM's length.
_SIZES_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const root = document.documentElement;
  return [nav ? nav.decodedBodySize : 0, root ? root.outerHTML.length : 0];
}"""
T = TypeVar("T")


class BrowserUnavailable(FetchError):
    """Playwright or Chromium is missing or will not start; a deployment problem, not the site's."""


class _GateNotPassed(Exception):
    pass


def is_browser_user_agent(user_agent: str | None) -> bool:
    """A User-Agent a browser would send: "Mozilla/5.0 …" and not headless."""
    return bool(user_agent) and user_agent.startswith("Mozilla/5.0") and "headless" not in user_agent.lower()


class BrowserFetcher:
    def __init__(self, *, executable_path: str = CHROMIUM, timeout: float = 30, max_bytes: int = 5_000_000,
                 user_agent: str | None = None, max_pages: int = 4, max_redirects: int = 5, per_host: int = 2,
                 gate_statuses: frozenset[int] = GATE_STATUSES, host_limits: HostLimits | None = None) -> None:
        self.executable_path = executable_path
        self.timeout = timeout
        self.max_bytes = max_bytes
        if user_agent and not is_browser_user_agent(user_agent):
            log.info("browser fetch mode presents Chromium's own User-Agent; the configured %r is for HTTP fetches",
                     user_agent)
            user_agent = None
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self.gate_statuses = gate_statuses
        self.host_limits = host_limits or HostLimits(per_host)
        self._pages = asyncio.Semaphore(max_pages)
        self._lock = asyncio.Lock()
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self.contexts_started = 0                 # for tests and the source-health view

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    encoding: str | None = None, max_bytes: int | None = None,
                    headers: dict[str, str] | None = None) -> FetchResult:
        """Load ``url`` as a browser would, through any bot gate. ``etag``/``last_modified`` are
        accepted for interface parity and ignored. FetchError names the URL."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url}: only http and https URLs can be fetched", url=url)
        cap = max_bytes or self.max_bytes
        async with self.host_limits.hold(parts.hostname), self._pages:
            for attempt in (1, 2):
                context = await self._ensure_context(url)
                try:
                    return await self._fetch_once(context, url, cap, encoding, headers)
                except _GateNotPassed as exc:
                    if attempt == 2:
                        raise FetchError(f"{url}: bot gate not passed with fresh cookies either ({exc})",
                                         url=url, status=412) from None
                    log.info("%s: gate no longer accepts our cookies (%s); starting a fresh browser context", url, exc)
                    await self._retire(context)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close the context, the browser and the Playwright driver; safe to call twice."""
        async with self._lock:
            context, browser, playwright = self._context, self._browser, self._playwright
            self._context = self._browser = self._playwright = None
            for obj in (context, browser):
                if obj is not None:
                    await _quiet_close(obj)
            if playwright is not None:
                try:
                    await asyncio.wait_for(playwright.stop(), CLOSE_TIMEOUT)
                except Exception as exc:  # the driver process may already be gone
                    log.warning("stopping playwright failed: %s", _first_line(exc))

    async def _ensure_context(self, url: str) -> Any:
        async with self._lock:
            if self._browser is None or not self._browser.is_connected():
                self._context = None
                self._browser = await self._launch(url)
            if self._context is None:
                version = self._browser.version.split(".")[0]
                # Headless Chromium says "HeadlessChrome"; firewalls reject that outright (module docstring).
                ua = self.user_agent or (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                                         f"Chrome/{version}.0.0.0 Safari/537.36")
                self._context = await self._browser.new_context(
                    user_agent=ua, locale="zh-CN", timezone_id="Asia/Shanghai")
                await self._context.route("**/*", _skip_heavy)
                self.contexts_started += 1
            return self._context

    async def _launch(self, url: str) -> Any:
        hint = (f"{url}: browser fetch mode needs the playwright package (pip install 'syndicator[browser]') "
                f"and Debian's Chromium at {self.executable_path} (apt-get install chromium)")
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:
            raise BrowserUnavailable(f"{hint}: {exc}", url=url) from None
        if not await asyncio.to_thread(os.access, self.executable_path, os.X_OK):
            raise BrowserUnavailable(f"{hint}: {self.executable_path} not found or not executable", url=url)
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        try:
            return await self._playwright.chromium.launch(
                executable_path=self.executable_path, args=CHROMIUM_ARGS, headless=True,
                timeout=self.timeout * 1000)
        except Exception as exc:  # playwright's Error: the message says why Chromium did not start
            raise BrowserUnavailable(f"{hint}: launch failed: {_first_line(exc)}", url=url) from None

    async def _retire(self, context: Any) -> None:
        async with self._lock:
            if self._context is context:
                self._context = None
        if not context.pages:                 # other fetches may still use it; the last one closes it
            await _quiet_close(context)

    async def _fetch_once(self, context: Any, url: str, cap: int, encoding: str | None,
                          headers: dict[str, str] | None) -> FetchResult:
        from playwright.async_api import Error as PlaywrightError

        deadline = time.monotonic() + self.timeout
        page = await self._within(context.new_page(), deadline, url, "opening a page")
        first_status: int | None = None
        try:
            extra = {k: v for k, v in (headers or {}).items() if k.lower() != "user-agent"}
            if extra:
                await self._within(page.set_extra_http_headers(extra), deadline, url, "setting headers")
            if agent := next((v for k, v in (headers or {}).items() if k.lower() == "user-agent"), None):
                # Chromium sends the context's User-Agent whatever the extra headers say; a source's
                # own is put on its requests here (page routes take precedence over the context's).
                await self._within(page.route("**/*", _as_user_agent(agent)), deadline, url, "setting headers")

            # The final document is the first main-frame response that is neither a redirect nor
            # the gate; it is current once the frame next commits (Chromium sends the response,
            # then the commit). Waiting for "load" before that commit would see the gate page's
            # load state, and closing a page mid-commit can hang.
            final: list[Any] = []
            committed = asyncio.Event()

            def on_response(response: Any) -> None:
                if (not final and response.request.is_navigation_request() and response.frame == page.main_frame
                        and not 300 <= response.status < 400 and response.status not in self.gate_statuses):
                    final.append(response)

            def on_navigated(frame: Any) -> None:
                if final and frame == page.main_frame:
                    committed.set()

            page.on("response", on_response)
            page.on("framenavigated", on_navigated)
            try:
                first = await page.goto(url, wait_until="commit", timeout=self.timeout * 1000)
                first_status = first.status if first is not None else None
                await asyncio.wait_for(committed.wait(), max(0.1, deadline - time.monotonic()))
                await page.wait_for_load_state("load", timeout=max(1.0, deadline - time.monotonic()) * 1000)
            except (PlaywrightError, TimeoutError) as exc:
                if first_status in self.gate_statuses and not final:
                    raise _GateNotPassed(f"still HTTP {first_status} after {self.timeout:g} s") from None
                why = f"no final page within {self.timeout:g} s" if isinstance(exc, TimeoutError) else _first_line(exc)
                raise FetchError(f"{url}: browser fetch failed: {why}", url=url) from None
            return await self._result(page, final[0], url, cap, encoding, deadline)
        except PlaywrightError as exc:
            raise FetchError(f"{url}: browser fetch failed: {_first_line(exc)}", url=url) from None
        finally:
            await _quiet_close(page)
            if context is not self._context and not context.pages:
                await _quiet_close(context)

    async def _within(self, step: Awaitable[T], deadline: float, url: str, what: str) -> T:
        """One Playwright call, bounded by what is left of the fetch's time."""
        try:
            return await asyncio.wait_for(step, max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            raise FetchError(f"{url}: browser fetch failed: {what} did not finish within {self.timeout:g} s",
                             url=url) from None

    async def _result(self, page: Any, response: Any, url: str, cap: int, encoding: str | None,
                      deadline: float) -> FetchResult:
        headers = response.headers                      # lower-cased names
        status = response.status
        retry_after = parse_retry_after(headers.get("retry-after"))
        if status >= 400:
            raise FetchError(f"{url}: HTTP {status} {response.status_text}".rstrip(), url=url, status=status,
                             retry_after=retry_after)
        if urlsplit(response.url).scheme not in ("http", "https"):
            raise FetchError(f"{url}: redirected to a non-http URL ({response.url[:80]})", url=url, status=status)
        if (hops := redirect_count(response)) > self.max_redirects:
            raise FetchError(f"{url}: more than {self.max_redirects} redirects ({hops})", url=url, status=status)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(f"{url}: body of {declared} bytes exceeds the {cap}-byte limit", url=url, status=status)
        content_type = headers.get("content-type", "")
        mime = content_type.split(";")[0].strip().lower()
        textual = _is_textual(mime)
        if textual:
            served, rendered = await self._within(page.evaluate(_SIZES_JS), deadline, url, "measuring the page")
            if served > cap:
                raise FetchError(f"{url}: body of {served} bytes exceeds the {cap}-byte limit", url=url, status=status)
            if rendered > cap and (mime in _HTML_TYPES or not mime):
                raise FetchError(f"{url}: rendered page of {rendered} characters exceeds the {cap}-character limit",
                                 url=url, status=status)
        body = await self._within(response.body(), deadline, url, "reading the body")
        if len(body) > cap:
            raise FetchError(f"{url}: body exceeds the {cap}-byte limit", url=url, status=status)
        result = FetchResult(url=response.url, status=status, body=body, content_type=content_type,
                             etag=headers.get("etag"), last_modified=headers.get("last-modified"),
                             retry_after=retry_after, max_age=parse_max_age(headers.get("cache-control")))
        if not textual:
            result.text, result.encoding = decode_body(body, content_type, encoding)
            return result
        # Chromium hands back text documents already decoded (header charset, then meta, then its
        # own detection) and re-encoded as UTF-8, not the bytes on the wire: whatever the page
        # declared, ``body`` is UTF-8 here, and an encoding override cannot be applied.
        if encoding:
            charset = await self._within(page.evaluate("document.characterSet"), deadline, url, "reading the charset")
            log.warning("%s: encoding override %r is not applied in browser mode; Chromium decoded it as %s",
                        url, encoding, charset)
        result.encoding = "utf-8"
        if mime in _HTML_TYPES or not mime:
            # the rendered DOM: script-written pagers included
            result.text = await self._within(page.content(), deadline, url, "reading the rendered page")
            if len(result.text) > cap:
                raise FetchError(f"{url}: rendered page of {len(result.text)} characters exceeds the "
                                 f"{cap}-character limit", url=url, status=status)
        else:
            result.text = body.decode("utf-8", errors="replace")
        return result


def redirect_count(response: Any) -> int:
    """HTTP redirects Chromium followed before this response (its request's redirect chain)."""
    hops, request = 0, response.request.redirected_from
    while request is not None and hops <= 100:
        hops, request = hops + 1, request.redirected_from
    return hops


def _is_textual(mime: str) -> bool:
    return (not mime or mime.startswith("text/") or mime.endswith(("+xml", "+json", "/xml", "/json"))
            or mime in ("application/javascript", "application/x-javascript"))


async def _skip_heavy(route: Any) -> None:
    """Images, media and fonts are never parsed; not loading them keeps polls light."""
    if route.request.resource_type in BLOCKED_RESOURCES:
        await route.abort()
    else:
        await route.continue_()


def _as_user_agent(agent: str) -> Callable[[Any], Awaitable[None]]:
    async def handle(route: Any) -> None:
        if route.request.resource_type in BLOCKED_RESOURCES:
            await route.abort()
        else:
            await route.continue_(headers={**await route.request.all_headers(), "user-agent": agent})

    return handle


async def _quiet_close(obj: Any) -> None:
    """Close, bounded: a page closed mid-navigation can leave ``close()`` waiting forever."""
    try:
        await asyncio.wait_for(obj.close(), CLOSE_TIMEOUT)
    except Exception as exc:  # already closed by the browser, or stuck: either way move on
        log.warning("closing %s failed: %s", type(obj).__name__, _first_line(exc))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
