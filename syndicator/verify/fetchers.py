"""The verifier's page fetcher: plain HTTP (core.fetch) for most hosts, Chromium for the hosts named in
``[verify] browser_hosts`` — sites behind a JavaScript bot gate, exactly as sources with ``fetch = "browser"``
are read (feeds.browser, created on first use)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from core.fetch import FetchError, FetchResult
from feeds.reader import PageFetcher


class HostRouted:
    def __init__(self, http: PageFetcher, browser_factory: Callable[[], Any] | None = None,
                 browser_hosts: Iterable[str] = ()) -> None:
        self.http, self.factory = http, browser_factory
        self.browser_hosts = {h.lower().strip() for h in browser_hosts if h.strip()}
        self._browser: Any = None

    def _for(self, url: str) -> PageFetcher:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.browser_hosts:
            return self.http
        if self._browser is None:
            if self.factory is None:
                raise FetchError(f"{url}: {host} is listed in [verify] browser_hosts but no browser is available",
                                 url=url)
            self._browser = self.factory()
        return self._browser  # type: ignore[no-any-return]

    async def fetch(self, url: str, **kwargs: Any) -> FetchResult:
        return await self._for(url).fetch(url, **kwargs)

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
            self._browser = None
