"""HTTP fetch of upstream pages: conditional GET, size and time caps, polite concurrency,
and a charset decision that never guesses by statistics.

Charset (docs/facts.md, with the WHATWG sniffing rule that a byte-order mark beats every label): a BOM
decides alone. Otherwise the candidates are, in order, the operator override, the HTTP header, the XML
declaration / ``<meta charset>``, UTF-8 and gb18030, and each is tried **strictly**: the first that decodes
without an error wins. Labels lie — a GBK feed served as ``charset=utf-8`` by a misconfigured server is the
common case — so a header is taken only when the bytes agree with it. Two refinements:

- Bytes that are valid UTF-8 *and* contain multi-byte sequences are UTF-8 whatever a header or declaration
  says (after an operator override): text in a legacy multi-byte encoding practically never forms valid
  UTF-8 (W3C, https://www.w3.org/International/questions/qa-forms-utf-8), while UTF-8 Chinese often decodes
  "cleanly" — as mojibake — under gb18030.
- A single-byte label that accepts every byte (ISO-8859-1, windows-1252: servers' defaults) proves nothing
  by decoding cleanly, so it is tried last.

Bytes that decode under no candidate are refused (``UndecodableError``): replacement characters would be
published as the reprint's text. A label that is not a web text encoding (unknown, or a Python codec such as
"zlib") is skipped, never passed to ``bytes.decode``. GBK and GB2312 labels are read as gb18030, their
superset, because government pages declared GB2312 routinely contain characters outside it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import aiohttp

from core.host_limits import HostLimits
from core.http_headers import parse_max_age, parse_retry_after


@dataclass(slots=True)
class FetchResult:
    """One HTTP exchange with an upstream site, already size-capped and decoded."""

    url: str                                  # the URL finally answered (after redirects)
    status: int
    body: bytes = b""
    text: str = ""
    encoding: str = ""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""
    retry_after: float | None = None          # seconds, from Retry-After
    max_age: float | None = None              # seconds, from Cache-Control

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class FetchError(Exception):
    """A fetch that produced no usable body. The message names the URL and what went wrong."""

    def __init__(self, message: str, *, url: str, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry_after = retry_after


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


_ALL_BYTES = bytes(range(256))


class UndecodableError(ValueError):
    """Bytes no candidate charset decodes without errors; ``str()`` says which were tried, in Chinese."""


@lru_cache(maxsize=64)
def _accepts_any_bytes(charset: str) -> bool:
    try:
        _ALL_BYTES.decode(charset)
    except UnicodeDecodeError:
        return False
    return True


def charset_candidates(body: bytes, content_type: str, override: str | None = None) -> list[str]:
    """Charsets to try strictly, in order (see the module docstring)."""
    if body.startswith(b"\xef\xbb\xbf"):
        return ["utf-8-sig"]
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ["utf-16"]
    labels: list[str | None] = [normalise_charset(override)]
    if not body.isascii():
        labels.append("utf-8")              # valid multi-byte UTF-8 outranks the labels (tried strictly)
    m = _CHARSET_PARAM.search(content_type or "")
    labels.append(normalise_charset(m.group(1)) if m else None)
    m2 = _DECLARED.search(body[:4096])
    labels.append(normalise_charset((m2.group(1) or m2.group(2)).decode("ascii")) if m2 else None)
    labels += ["utf-8", "gb18030"]
    ordered = list(dict.fromkeys(c for c in labels if c))
    return [c for c in ordered if not _accepts_any_bytes(c)] + [c for c in ordered if _accepts_any_bytes(c)]


def _strict(body: bytes, charset: str) -> str | None:
    try:
        return body.decode(charset)
    except (UnicodeDecodeError, UnicodeError):
        return None


def decide_charset(body: bytes, content_type: str, override: str | None = None) -> str:
    """The first candidate that decodes ``body`` strictly; the first candidate when none does."""
    candidates = charset_candidates(body, content_type, override)
    return next((c for c in candidates if _strict(body, c) is not None), candidates[0])


def decode_body(body: bytes, content_type: str = "", override: str | None = None) -> tuple[str, str]:
    """(text, charset used), decoded strictly; ``UndecodableError`` when no candidate decodes it."""
    candidates = charset_candidates(body, content_type, override)
    errors = []
    for charset in candidates:
        try:
            return body.decode(charset), charset
        except UnicodeDecodeError as exc:
            errors.append(f"{charset}（第 {exc.start} 字节起出错）")
        except UnicodeError as exc:
            errors.append(f"{charset}（{exc}）")
    raise UndecodableError("内容无法按任何候选字符编码无误解码，已拒收、不发布：" + "、".join(errors)
                           + "（请核对来源的字符编码，必要时在配置中为该来源指定 encoding）")


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
        if resp.status in (429, 503) and retry_after:   # the whole host asked for a pause (core.host_limits)
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
        try:
            result.text, result.encoding = decode_body(result.body, result.content_type, encoding)
        except UndecodableError as exc:
            raise FetchError(f"{url}: {exc}", url=url, status=resp.status) from None
        return result
