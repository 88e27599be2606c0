"""HTTP fetch of upstream pages: conditional GET, size and time caps, polite concurrency,
and a charset decision that never guesses by statistics.

Charset order (shared/README §5, with the WHATWG sniffing rule that a byte-order mark beats every
label): BOM → operator override → HTTP header → XML declaration / <meta charset> → strict UTF-8 →
gb18030. A label that is not a web text encoding (unknown, or a Python codec such as "zlib") is
skipped, never passed to ``bytes.decode``. A BOM is the bytes themselves speaking, so a stale
``<meta charset=gbk>`` or header left by a CMS migration cannot overrule it. GBK and GB2312 labels
are read as gb18030, their superset, because government pages declared GB2312 routinely contain
characters outside it.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from urllib.parse import urlsplit

import aiohttp

from feeds.host_limits import HostLimits
from feeds.model import FetchError, FetchResult
from syndicator.http_headers import parse_max_age, parse_retry_after

_DECLARED = re.compile(
    rb"""<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']|<meta[^>]+charset=["']?([A-Za-z0-9._-]+)""",
    re.IGNORECASE,
)
_CHARSET_PARAM = re.compile(r"charset=[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)
_GB_FAMILY = {"gb2312", "gbk", "gb_2312-80", "x-gbk", "cp936", "gb18030", "euc-cn"}


# Python codecs that are not web text encodings: an upstream "charset=zlib" or "charset=idna" would
# otherwise make bytes.decode raise instead of decoding (utf-7 is also refused by browsers, for XSS).
_NOT_WEB = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape", "utf-7", "undefined"})


@lru_cache(maxsize=256)
def normalise_charset(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when it is unknown or not a text encoding."""
    if not label:
        return None
    label = label.strip().lower()
    if label in _GB_FAMILY:
        return "gb18030"
    try:
        info = codecs.lookup(label)
        if info.name in _NOT_WEB or not getattr(info, "_is_text_encoding", True):
            return None
        b"\xff\xfe<a>\x80".decode(info.name, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return None
    return info.name


def decide_charset(body: bytes, content_type: str, override: str | None = None) -> str:
    if body.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if override and (cs := normalise_charset(override)):
        return cs
    m = _CHARSET_PARAM.search(content_type or "")
    if m and (cs := normalise_charset(m.group(1))):
        return cs
    m2 = _DECLARED.search(body[:4096])
    if m2 and (cs := normalise_charset((m2.group(1) or m2.group(2)).decode("ascii"))):
        return cs
    try:
        body.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def decode_body(body: bytes, content_type: str = "", override: str | None = None) -> tuple[str, str]:
    """(text, charset used). Undecodable bytes become U+FFFD rather than failing the whole page."""
    charset = decide_charset(body, content_type, override)
    return body.decode(charset, errors="replace"), charset


class Fetcher:
    """Fetches upstream URLs through one shared session, at most N at a time per host."""

    def __init__(self, session: aiohttp.ClientSession, *, user_agent: str, timeout: float = 20,
                 max_bytes: int = 5_000_000, max_redirects: int = 5, per_host: int = 2,
                 host_limits: HostLimits | None = None) -> None:
        self.session = session
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.host_limits = host_limits or HostLimits(per_host)

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    encoding: str | None = None, max_bytes: int | None = None,
                    headers: dict[str, str] | None = None) -> FetchResult:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(f"{url}: only http and https URLs can be fetched", url=url)
        cap = max_bytes or self.max_bytes
        request_headers = {"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate", **(headers or {})}
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        async with self.host_limits.hold(parts.hostname):
            try:
                async with self.session.get(
                    url, headers=request_headers, allow_redirects=True, max_redirects=self.max_redirects,
                    timeout=aiohttp.ClientTimeout(total=self.timeout),
                ) as resp:
                    return await self._read(url, resp, cap, encoding)
            except FetchError:
                raise
            except aiohttp.NonHttpUrlRedirectClientError as exc:
                raise FetchError(f"{url}: redirected to a non-http URL ({exc})", url=url) from None
            except aiohttp.TooManyRedirects:
                raise FetchError(f"{url}: more than {self.max_redirects} redirects", url=url) from None
            except TimeoutError:
                raise FetchError(f"{url}: no complete answer within {self.timeout:g} s", url=url) from None
            except aiohttp.ClientError as exc:
                raise FetchError(f"{url}: {type(exc).__name__}: {exc}", url=url) from None

    async def _read(self, url: str, resp: aiohttp.ClientResponse, cap: int, encoding: str | None) -> FetchResult:
        final = str(resp.url)
        if urlsplit(final).scheme not in ("http", "https"):
            raise FetchError(f"{url}: redirected to a non-http URL", url=url)
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        result = FetchResult(
            url=final, status=resp.status, etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"), content_type=resp.headers.get("Content-Type", ""),
            retry_after=retry_after, max_age=parse_max_age(resp.headers.get("Cache-Control")),
        )
        if resp.status == 304:
            return result
        if resp.status in (429, 503) and retry_after:   # the whole host asked for a pause (feeds.host_limits)
            self.host_limits.block(urlsplit(url).hostname or "", retry_after)
        if resp.status >= 400:
            raise FetchError(f"{url}: HTTP {resp.status} {resp.reason or ''}".rstrip(), url=url,
                             status=resp.status, retry_after=retry_after)
        declared = resp.content_length
        if declared is not None and declared > cap:
            raise FetchError(f"{url}: body of {declared} bytes exceeds the {cap}-byte limit", url=url,
                             status=resp.status)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > cap:
                raise FetchError(f"{url}: body exceeds the {cap}-byte limit", url=url, status=resp.status)
            chunks.append(chunk)
        result.body = b"".join(chunks)
        result.text, result.encoding = decode_body(result.body, result.content_type, encoding)
        return result
