"""An Item shaped as a WeChat draft article (pure; no I/O).

Limits from the draft/add reference
(https://developers.weixin.qq.com/doc/service/api/draftbox/draftmanage/api_draft_add):
title ≤ 32 字, author ≤ 16 字, digest ≤ 128 字 (older pages said 120; we keep 120, valid under both),
content < 20,000 characters and < 1 MB with JS removed, images only from media/uploadimg ("外部图片url
将被过滤"), content_source_url ≤ 1 KB. Body links to non-WeChat pages are not clickable in articles, so
<a> is unwrapped and the original link is given as text plus ``content_source_url`` (阅读原文).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

import lxml.html

from core.content import ALLOWED_TAGS, image_urls, sanitize, source_line, to_text
from core.models import Item, UnitRef

TITLE_MAX = 32
AUTHOR_MAX = 16
DIGEST_MAX = 120
CONTENT_MAX = 20_000
SOURCE_URL_MAX_BYTES = 1024
IMAGE_URL_ALLOWANCE = 200           # re-hosted mmbiz URLs may be longer than the originals
WECHAT_TAGS = ALLOWED_TAGS - {"a"}
MISSING_IMAGE_HTML = "<span>〔图片未能转载，请见原文〕</span>"
TRUNCATED_HTML = "<p>（正文较长，以上为节选，全文请点击“阅读原文”查看。）</p>"
_SPACES = re.compile(r"\s+")
STYLES = {
    "table": "border-collapse:collapse;width:100%;",
    "td": "border:1px solid #999;padding:4px;",
    "th": "border:1px solid #999;padding:4px;",
    "img": "max-width:100%;height:auto;",
}


@dataclass(frozen=True, slots=True)
class WechatArticle:
    title: str
    author: str
    digest: str
    content: str                    # image src still point at the originals
    content_source_url: str
    images: tuple[str, ...]         # absolute URLs to re-host, in order
    notes: tuple[str, ...] = ()     # operator-facing remarks (Chinese)

    def draft(self, content: str, thumb_media_id: str, *, need_open_comment: bool = False,
              only_fans_can_comment: bool = False) -> dict[str, object]:
        """One element of draft/add ``articles``."""
        return {
            "article_type": "news",
            "title": self.title,
            "author": self.author,
            "digest": self.digest,
            "content": content,
            "content_source_url": self.content_source_url,
            "thumb_media_id": thumb_media_id,
            "need_open_comment": int(need_open_comment),
            "only_fans_can_comment": int(only_fans_can_comment),
        }


def clip(text: str, limit: int) -> str:
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _blocks(parent: lxml.html.HtmlElement) -> list[str]:
    """Serialised blocks, with wrapper <div>s opened so that a cut can fall between paragraphs."""
    out = [escape(parent.text or "")]
    for child in parent:
        if child.tag == "div" and len(child):
            out.extend(_blocks(child))
            out.append(escape(child.tail or ""))
        else:
            out.append(lxml.html.tostring(child, encoding="unicode"))
    return [b for b in out if b.strip()]


def _fragments(html: str) -> list[str]:
    if not html.strip():
        return []
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    for el in root.iter(*STYLES):
        el.set("style", STYLES[el.tag])
    return _blocks(root)


def render_article(item: Item, unit: UnitRef, *, author: str = "") -> WechatArticle:
    notes: list[str] = []
    full_title = clip(item.title, 10_000)
    title = clip(full_title, TITLE_MAX)
    body = sanitize(item.content or f"<p>{escape(item.summary)}</p>", item.url, tags=WECHAT_TAGS)
    head = ""
    if title != full_title:
        notes.append(f"标题超过微信{TITLE_MAX}字限制，已截短；完整标题置于正文开头")
        head = f"<p><strong>{escape(full_title)}</strong></p>"
    footer = f"<p>{escape(source_line(item))}　原文链接：{escape(item.url)}</p>"
    images = image_urls(body)
    budget = CONTENT_MAX - len(head) - len(footer) - len(TRUNCATED_HTML) - IMAGE_URL_ALLOWANCE * len(images) - 500
    kept: list[str] = []
    used = 0
    for block in _fragments(body):
        if used + len(block) > budget:
            notes.append("正文超过微信2万字符限制，已节选，全文见“阅读原文”")
            kept.append(TRUNCATED_HTML)
            break
        kept.append(block)
        used += len(block)
    content = head + "".join(kept) + footer
    digest_source = item.summary or to_text(body)
    source_url = item.url if len(item.url.encode()) <= SOURCE_URL_MAX_BYTES else (item.canonical_url or "")
    return WechatArticle(
        title=title,
        author=clip(author or unit.name, AUTHOR_MAX),
        digest=clip(digest_source, DIGEST_MAX),
        content=content,
        content_source_url=source_url,
        images=tuple(u for u in image_urls(content) if u in images),
        notes=tuple(notes),
    )


def rehost(content: str, hosted: Mapping[str, str | None]) -> tuple[str, int]:
    """Point <img> at re-hosted URLs; an image without one becomes a short notice. Returns (html, dropped)."""
    if "<img" not in content:
        return content, 0
    root = lxml.html.fragment_fromstring(content, create_parent="div")
    dropped = 0
    for img in list(root.iter("img")):
        new = hosted.get((img.get("src") or "").strip())
        if new:
            img.set("src", new)
            continue
        dropped += 1
        notice = lxml.html.fragment_fromstring(MISSING_IMAGE_HTML)
        notice.tail = img.tail
        img.getparent().replace(img, notice)
    html = escape(root.text or "") + "".join(lxml.html.tostring(c, encoding="unicode") for c in root)
    return html, dropped
