"""Article HTML made safe and self-contained for reprinting.

nh3 (ammonia) does the sanitising; lxml finds images and makes links absolute. Every platform
starts from ``sanitize`` and adds its own shaping.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from urllib.parse import urljoin

import lxml.html
import nh3

from core.models import Item

ALLOWED_TAGS = {
    "p", "br", "div", "span", "strong", "b", "em", "i", "u", "sub", "sup", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "a", "img", "figure", "figcaption",
    "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col", "hr", "pre",
}
ALLOWED_ATTRS = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "p": {"align"},
    "div": {"align"},
}
_WS = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


# One item is rendered for every unit's account (10,000 units: 10,000 identical sanitisations on the event
# loop). The results depend only on the arguments, so the few items in flight at a time are memoised; the
# bound is small because a body can be megabytes.
MEMO_ITEMS = 8


def absolutize(html: str, base_url: str) -> str:
    """Rewrite relative href/src against the article's URL."""
    if not html.strip():
        return html
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    doc.make_links_absolute(base_url, resolve_base_href=False)
    inner = "".join(
        lxml.html.tostring(child, encoding="unicode") for child in doc
    )
    return (doc.text or "") + inner


def sanitize(html: str, base_url: str = "", *, tags: set[str] | None = None) -> str:
    """Strip scripts, styles, event handlers and unknown tags; keep structure and tables."""
    return _sanitize(html, base_url, frozenset(tags) if tags else None)


@functools.lru_cache(maxsize=MEMO_ITEMS)
def _sanitize(html: str, base_url: str, tags: frozenset[str] | None) -> str:
    cleaned = nh3.clean(
        html,
        tags=set(tags or ALLOWED_TAGS),
        attributes={k: v for k, v in ALLOWED_ATTRS.items() if k in (tags or ALLOWED_TAGS)},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
        clean_content_tags={"script", "style"},
        strip_comments=True,
    )
    return absolutize(cleaned, base_url) if base_url else cleaned


def image_urls(html: str, base_url: str = "") -> list[str]:
    """Absolute URLs of the <img> elements, in document order, without repeats."""
    return list(_image_urls(html, base_url))


@functools.lru_cache(maxsize=MEMO_ITEMS)
def _image_urls(html: str, base_url: str) -> tuple[str, ...]:
    if not html.strip():
        return ()
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    seen: dict[str, None] = {}
    for img in doc.iter("img"):
        src = (img.get("src") or "").strip()
        if src:
            seen.setdefault(urljoin(base_url, src) if base_url else src, None)
    return tuple(seen)


@functools.lru_cache(maxsize=MEMO_ITEMS)
def to_text(html: str) -> str:
    """Readable plain text: block elements become line breaks, whitespace folded."""
    if not html.strip():
        return ""
    doc = lxml.html.fragment_fromstring(html, create_parent="div")
    for el in doc.iter("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
        el.tail = "\n" + (el.tail or "")
    for el in doc.iter("td", "th"):
        el.tail = " " + (el.tail or "")
    text = doc.text_content()
    lines = (_WS.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def source_line(item: Item) -> str:
    """The credit every reprint carries, e.g. 转载自 中国政府网."""
    return f"转载自 {item.origin or item.authority or '上级网站'}"


def source_footer_html(item: Item) -> str:
    """Credit and link to the original, as an HTML paragraph."""
    from html import escape

    return (
        f'<p class="reprint-source">{escape(source_line(item))}　'
        f'原文链接：<a href="{escape(item.url, quote=True)}">{escape(item.url)}</a></p>'
    )


def sample_item() -> Item:
    """A stand-in item for checks that render without publishing (check-config, ``Channel.verify``)."""
    url = "https://www.gov.cn/zhengce/content/202611/content_7000001.htm"
    return Item(source_id="sample", guid="content_7000001", url=url, canonical_url=url,
                title="示例稿件（核验用，不发布）", content="<p>示例</p>", origin="中国政府网",
                detected_at=datetime(2026, 1, 1, tzinfo=UTC), id=1)
