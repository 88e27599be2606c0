"""List pages (gov.cn columns, TRS CMS portals) read into ``Entry`` objects by configured selectors.

Selectors come from ``HtmlListSpec``: CSS (lxml.cssselect) or XPath. Links are made absolute
(honouring ``<base href>``), only http/https survive, and a URL listed twice on one page is kept
once. Dates go through ``feeds.dates`` so an unreadable date is flagged on the entry, not guessed.

``next_page`` is a selector of the "next page" link, or ``"@trs"`` for TRS CMS pages whose pager
is written by script (``createPageHTML(count, current, "index", "shtml")`` on older templates,
``pageControl(total, current, "index", "shtml")`` on the Hubei portal — MageGojo/drission-rs
``examples/sites/hubei_zfwj_protocol.rs`` ``parse_page_control_next``; pages ``index.shtml``,
``index_1.shtml`` …).

Pages with a stray ``</html>`` make lxml build a second root after the first; every selector
searches all roots (``document_roots``), or a list or body after the stray tag is never seen.

An item with a date selector whose date element is missing or empty gets a ``date_problem``: the
deadline then falls back to detection time, and the record must say why.

A page that yields no entries is told apart from a broken layout: when the item selector matches
nothing but the list container does (``spec.container``, else the item selector without its last
step), the list is legitimately empty; when neither matches, or items match but none has a usable
link and title, it is a ParseError naming the URL and the selector — a changed layout must make
the source fail loudly, not look healthy with zero items.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import lxml.html
from lxml import etree
from lxml.cssselect import CSSSelector

from feeds.dates import parse_or_flag
from feeds.model import Entry, ParseError
from feeds.specs import HtmlListSpec

log = logging.getLogger(__name__)

TRS_PAGER = "@trs"
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_WS = re.compile(r"\s+")
_ELLIPSIS = ("...", "…", "..")
_TRS_CALL = re.compile(
    r"(?:createPageHTML|pageControl)\(\s*(?:['\"][^'\"]*['\"]\s*,\s*)?(\d+)\s*,\s*(\d+)\s*,\s*['\"]([\w.-]+)['\"]\s*,\s*['\"](\w+)['\"]"
)
_TRS_VARS = {name: re.compile(rf"\b{name}\s*=\s*['\"]?([\w.-]+)['\"]?") for name in
             ("countPage", "currentPage", "prefix", "suffix")}


def load_html(text: str, url: str) -> lxml.html.HtmlElement:
    """Parse already-decoded HTML. Re-encoding as UTF-8 with an explicit parser encoding makes a
    stale ``<meta charset=gbk>`` or XML declaration harmless (the fetcher has decoded already)."""
    data = _XML_DECL.sub("", text or "", count=1).encode("utf-8", "replace")
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        return lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ParseError(f"{url}: not an HTML page ({exc}); received {text[:80]!r}") from exc


@lru_cache(maxsize=512)
def compile_selector(expr: str, kind: str = "css") -> etree.XPath:
    """A compiled CSS or XPath selector; ValueError names the bad expression (a config error)."""
    try:
        if kind == "xpath":
            return etree.XPath(expr)
        return CSSSelector(expr)
    except Exception as exc:  # cssselect and lxml raise several unrelated error types
        raise ValueError(f"invalid {kind} selector {expr!r}: {exc}") from exc


def document_roots(root: etree._Element) -> list[etree._Element]:
    """The parsed root and any sibling roots lxml built after a stray ``</html>``."""
    roots = [root]
    node = root.getnext()
    while node is not None:
        if isinstance(node.tag, str):
            roots.append(node)
        node = node.getnext()
    return roots


def select_all(root: etree._Element, expr: str, kind: str = "css") -> list[Any]:
    """``select`` over every root of the document, in document order."""
    return [found for r in document_roots(root) for found in select(r, expr, kind)]


def check_html_spec(spec: HtmlListSpec) -> None:
    """Fail at config load, naming the field, rather than at the first poll."""
    for field in ("item", "link", "title", "date", "next_page", "container"):
        expr = getattr(spec, field)
        if expr and not (field == "next_page" and expr == TRS_PAGER):
            try:
                compile_selector(expr, spec.selector_type)
            except ValueError as exc:
                raise ValueError(f"html.{field}: {exc}") from None


def select(node: Any, expr: str, kind: str = "css") -> list[Any]:
    """Elements (or, from XPath, attribute strings) matching ``expr`` under ``node``."""
    try:
        result = compile_selector(expr, kind)(node)
    except etree.XPathEvalError as exc:
        raise ValueError(f"{kind} selector {expr!r} failed: {exc}") from exc
    if not isinstance(result, list):          # XPath can yield a number, string or boolean
        return [result] if isinstance(result, str) and result else []
    return [r for r in result if isinstance(r, (etree._Element, str)) and not isinstance(r, etree._Comment)]


def text_of(node: Any) -> str:
    """Visible text with whitespace (including U+3000) collapsed."""
    if isinstance(node, str):
        raw = node
    else:
        raw = "".join(t for t in node.itertext() if isinstance(t, str))
    return _WS.sub(" ", raw).strip()


def absolute_http(href: str, base: str) -> str | None:
    """``href`` resolved against ``base``, without fragment; None unless it is http(s)."""
    href = (href or "").strip().replace("\\", "/")
    if not href or href.startswith("#"):
        return None
    try:
        url = urldefrag(urljoin(base, href))[0]
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def document_base(root: lxml.html.HtmlElement, url: str) -> str:
    base = root.find(".//base[@href]")
    if base is not None:
        resolved = absolute_http(base.get("href", ""), url)
        if resolved:
            return resolved
    return url


def parse_html_list(text: str, base_url: str, spec: HtmlListSpec) -> list[Entry]:
    """Entries in page order. ParseError for a body that is not HTML, or a layout that no longer
    fits the selectors (see the module docstring)."""
    return parse_html_page(text, base_url, spec)[0]


def parse_html_page(text: str, base_url: str, spec: HtmlListSpec) -> tuple[list[Entry], str | None]:
    """Entries and the next page's URL, from one parse of the page."""
    root = load_html(text, base_url)
    base = document_base(root, base_url)
    items = [i for i in select_all(root, spec.item, spec.selector_type) if not isinstance(i, str)]
    entries: list[Entry] = []
    seen: set[str] = set()
    unusable = 0
    for item in items:
        entry = _entry(item, base, spec)
        if entry is None:
            unusable += 1
        elif entry.url not in seen:
            seen.add(entry.url)
            entries.append(entry)
    if not entries:
        _check_empty(root, base_url, spec, len(items), unusable)
    return entries, _next_page(root, text, base_url, base, spec)


def list_container(spec: HtmlListSpec) -> str | None:
    """The configured container, else the CSS item selector without its last compound step
    (``.news_box .list li:not(.line)`` -> ``.news_box .list``); None when there is none to take."""
    if spec.container:
        return spec.container
    if spec.selector_type != "css":
        return None
    depth, quote, cut = 0, "", -1
    item = spec.item.strip()
    for i, ch in enumerate(item):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in ",+~":
            return None                        # groups and sibling steps have no single container
        elif depth == 0 and (ch.isspace() or ch == ">"):
            cut = i
    head = item[:cut].rstrip(" \t\n>") if cut > 0 else ""
    return head or None


def _check_empty(root: lxml.html.HtmlElement, url: str, spec: HtmlListSpec, matched: int, unusable: int) -> None:
    if matched:
        title = f" or title ({spec.title!r})" if spec.title else " or title"
        raise ParseError(f"{url}: all {matched} items matched by {spec.item!r} lack a usable link ({spec.link!r})"
                         f"{title}; the list layout may have changed")
    container = list_container(spec)
    if container:
        try:
            if select_all(root, container, spec.selector_type):
                return                         # the list is there and empty
        except ValueError:
            pass                               # a derived selector that does not compile
    heading = root.find(".//title")
    page = text_of(heading)[:60] if heading is not None else ""
    nor = f", nor did its list container {container!r}" if container else ""
    raise ParseError(f"{url}: item selector {spec.item!r} matched nothing{nor}; the page layout may have changed "
                     f"(page title {page!r})")


def _entry(item: etree._Element, base: str, spec: HtmlListSpec) -> Entry | None:
    kind = spec.selector_type
    links = select(item, spec.link, kind)
    if not links and item.tag == "a":
        links = [item]                         # the item selector already points at the link
    link = next((x for x in links if isinstance(x, str) or x.get("href")), None)
    if link is None:
        return None
    url = absolute_http(link if isinstance(link, str) else link.get("href", ""), base)
    if url is None:
        return None
    title = ""
    if spec.title:
        title = next((t for t in map(text_of, select(item, spec.title, kind)) if t), "")
    elif not isinstance(link, str):
        title = _link_title(link)
    if not title:
        log.debug("list item without a title skipped: %s", url)
        return None
    entry = Entry(url=url, title=title)
    if spec.date:
        raw = next((t for t in map(text_of, select(item, spec.date, kind)) if t), "")
        entry.published_raw = raw
        entry.published_at, entry.date_problem = parse_or_flag(raw)
        if not raw:
            entry.date_problem = f"no date: date element {spec.date!r} missing or empty in this list item"
        elif entry.published_at is None and entry.date_problem is None:
            entry.date_problem = f"date text {raw[:60]!r} (selector {spec.date!r}) holds no date we can read"
    return entry


def _link_title(link: etree._Element) -> str:
    """Lists truncate long titles ("关于…的通知...") and keep the full one in ``title``."""
    text = text_of(link)
    attr = _WS.sub(" ", link.get("title") or "").strip()
    if attr and (not text or text.endswith(_ELLIPSIS) or attr.startswith(text.rstrip(".…"))):
        return attr
    return text


def next_page_url(text: str, base_url: str, spec: HtmlListSpec) -> str | None:
    """The next list page, or None on the last page / when no pager is configured."""
    if not spec.next_page:
        return None
    if spec.next_page == TRS_PAGER:
        return _trs_next(text, base_url)
    root = load_html(text, base_url)
    return _next_page(root, text, base_url, document_base(root, base_url), spec)


def _next_page(root: lxml.html.HtmlElement, text: str, base_url: str, base: str, spec: HtmlListSpec) -> str | None:
    if not spec.next_page:
        return None
    if spec.next_page == TRS_PAGER:
        return _trs_next(text, base_url)
    for node in select_all(root, spec.next_page, spec.selector_type):
        href = node if isinstance(node, str) else node.get("href", "")
        url = absolute_http(href, base)
        if url and url != urldefrag(base_url)[0]:
            return url
    return None


def _trs_next(text: str, base_url: str) -> str | None:
    """TRS pagers: page 0 is ``index.shtml``, page n is ``index_n.shtml``."""
    m = _TRS_CALL.search(text or "")
    if m:
        count, current, prefix, suffix = int(m[1]), int(m[2]), m[3], m[4]
    else:
        found = {k: rx.search(text or "") for k, rx in _TRS_VARS.items()}
        if not all(found.values()):
            return None
        try:
            count, current = int(found["countPage"][1]), int(found["currentPage"][1])  # type: ignore[index]
        except ValueError:
            return None
        prefix, suffix = found["prefix"][1], found["suffix"][1]  # type: ignore[index]
    if current + 1 >= count or count > 100_000:
        return None
    return absolute_http(f"{prefix}_{current + 1}.{suffix}", base_url)
