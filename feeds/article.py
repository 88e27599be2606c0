"""An item's own page: its body (for reprinting), precise publication time and stable id.

List pages give a date at best; the article's ``firstpublishedtime`` meta (gov.cn,
``YYYY-MM-DD-HH:mm:ss``) or TRS ``PubDate`` gives the minute, which matters for a 1-working-day
deadline. The body is the raw inner HTML of the first configured selector that matches; only
when none does, and ``fallback_extractor`` is on, trafilatura's main-content extraction is tried
(it is an optional extra). Nothing is sanitised here: each channel sanitises for its platform.

Every selector searches all roots of the document: gov.cn pages have been seen with a stray
``</html>`` before the article, after which lxml puts the article in a second root. Every body,
from a selector or the fallback, then passes ``feeds.plausibility.check_body``; one that fails is
kept out of the entry (``Entry.body_problem`` says why), so a menu is never reprinted as the article.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from html import escape

import lxml.html
from lxml import etree

from feeds.dates import parse_or_flag
from feeds.html_list import compile_selector, document_roots, load_html, text_of
from feeds.model import Entry
from feeds.plausibility import check_body
from feeds.specs import ArticleSpec

log = logging.getLogger(__name__)

TITLE_META = ("ArticleTitle", "og:title")
_TITLE_SPLIT = re.compile(r"\s*(?:_|\||｜| - | — )\s*")


@dataclass(slots=True)
class Article:
    url: str
    title: str = ""
    content_html: str = ""                    # raw inner HTML; "" when nothing was found
    published_at: datetime | None = None
    published_raw: str = ""
    date_problem: str | None = None
    guid: str = ""
    body_source: str = ""                     # the selector that matched, "trafilatura" or ""
    body_problem: str | None = None           # why the body is not believable as the article (Chinese)


def parse_article(text: str, url: str, spec: ArticleSpec, summary: str = "") -> Article:
    """Read one article page. ParseError only for a body that is not HTML at all. ``summary`` is the
    list's summary of the item, when it has one (a body sharing nothing with it is another page's)."""
    root = load_html(text, url)
    metas = _metas(root)
    article = Article(url=url, title=_title(root, metas, spec))
    for selector in spec.body:
        node = next(iter(_select(root, selector)), None)
        if node is not None and (inner := inner_html(node)).strip():
            article.content_html, article.body_source = inner, selector
            break
    else:
        if spec.fallback_extractor:
            article.content_html = _extract(text, url)
            article.body_source = "trafilatura" if article.content_html else ""
    _set_date(article, root, metas, spec)
    article.guid = next((metas[n.lower()] for n in spec.guid_meta if metas.get(n.lower())), "")
    problem = check_body(article.content_html, min_chars=spec.min_body_chars,
                         max_link_density=spec.max_link_density, summary=summary)
    if problem:
        where = (f"（取自 {article.body_source}）" if article.body_source
                 else f"（正文选择器 {'、'.join(spec.body)} 均未匹配）")
        article.body_problem = problem + where
        log.warning("article %s: implausible body%s: %s", url, where, problem)
    return article


def merge_article(entry: Entry, article: Article) -> Entry:
    """Fill a list entry from its page. The page's time wins (it has the minute, lists only the
    day); the list's date text is kept in ``extra['list_date']`` so a disagreement stays visible.
    An implausible body is not merged: the entry carries ``body_problem`` and no body instead."""
    if article.body_problem:
        entry.body_problem, entry.content = article.body_problem, ""
    elif article.content_html:
        entry.body_problem = None
        entry.content = article.content_html
    if article.guid and not entry.guid:
        entry.guid = article.guid
    if not entry.title and article.title:
        entry.title = article.title
    if article.published_at is not None:
        if entry.published_raw:
            entry.extra.setdefault("list_date", entry.published_raw)
        entry.published_at, entry.published_raw = article.published_at, article.published_raw
        entry.date_problem = article.date_problem
    elif article.date_problem and entry.published_at is None and not entry.date_problem:
        entry.date_problem = article.date_problem
    return entry


def inner_html(node: etree._Element) -> str:
    """Markup between the element's tags, exactly as parsed (text, children, their tails)."""
    parts = [escape(node.text, quote=False)] if node.text else []
    parts += [lxml.html.tostring(child, encoding="unicode", with_tail=True) for child in node]
    return "".join(parts)


def _select(root: lxml.html.HtmlElement, expr: str) -> list[etree._Element]:
    """CSS, or XPath when the expression starts with ``/`` or ``(``."""
    kind = "xpath" if expr.lstrip().startswith(("/", "(")) else "css"
    out: list[etree._Element] = []
    for one in document_roots(root):
        try:
            found = compile_selector(expr, kind)(one)
        except (ValueError, etree.XPathEvalError) as exc:
            log.warning("article selector %r unusable: %s", expr, exc)
            return []
        out += [n for n in found if isinstance(n, etree._Element)] if isinstance(found, list) else []
    return out


def _metas(root: lxml.html.HtmlElement) -> dict[str, str]:
    """``<meta name|property=... content=...>`` by lower-cased name, first occurrence wins."""
    metas: dict[str, str] = {}
    for meta in (m for one in document_roots(root) for m in one.iter("meta")):
        key = (meta.get("name") or meta.get("property") or meta.get("itemprop") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if key and content and key not in metas:
            metas[key] = content
    return metas


def _title(root: lxml.html.HtmlElement, metas: dict[str, str], spec: ArticleSpec) -> str:
    for selector in spec.title:
        found = next((t for t in map(text_of, _select(root, selector)) if t), "")
        if found:
            return found
    for name in TITLE_META:
        if metas.get(name.lower()):
            return text_of(metas[name.lower()])
    h1 = next((t for t in map(text_of, _select(root, "h1")) if t), "")
    if h1:
        return h1
    title = next(iter(_select(root, "title")), None)
    full = text_of(title) if title is not None else ""
    # "标题_国务院文件_中国政府网": the site's suffixes follow the first separator.
    head = _TITLE_SPLIT.split(full, maxsplit=1)[0]
    return head if len(head) >= 4 else full


def _set_date(article: Article, root: lxml.html.HtmlElement, metas: dict[str, str], spec: ArticleSpec) -> None:
    """First readable date wins; unreadable ones met on the way are reported, not skipped silently."""
    candidates = [(f"meta {n}", metas.get(n.lower(), "")) for n in spec.date_meta]
    for selector in spec.date:
        candidates.append((selector, next((t for t in map(text_of, _select(root, selector)) if t), "")))
    problems: list[str] = []
    for where, raw in candidates:
        if not raw:
            continue
        when, problem = parse_or_flag(raw)
        if when is not None:
            article.published_at, article.published_raw = when, raw
            if problems:
                article.date_problem = "; ".join(problems) + f"; used {where} instead"
            return
        problems.append(f"{where}: {problem or f'no date in {raw[:60]!r}'}")
        article.published_raw = article.published_raw or raw
    if not problems and candidates:
        problems.append("no date: " + ", ".join(where for where, _ in candidates) + " missing or empty")
    article.date_problem = "; ".join(problems) or None


def _extract(text: str, url: str) -> str:
    try:
        import trafilatura
    except ImportError:
        log.debug("trafilatura not installed; no main-content fallback for %s", url)
        return ""
    try:
        extracted = trafilatura.extract(text, url=url, output_format="html", include_images=True,
                                        include_links=True, include_tables=True, include_comments=False)
        if not extracted:
            return ""
        doc = lxml.html.document_fromstring(extracted.encode("utf-8"), parser=lxml.html.HTMLParser(encoding="utf-8"))
    except Exception as exc:  # a third-party heuristic must not fail the item
        log.warning("trafilatura failed on %s: %s", url, exc)
        return ""
    node = doc.find(".//body")
    return inner_html(node if node is not None else doc).strip()
