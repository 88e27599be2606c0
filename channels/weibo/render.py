"""An item as one Weibo post: ≤ 140 characters, the reprint link on the safe domain, no #topics#.

Pure functions only; ``WeiboChannel.render`` calls ``render_post``.

Protocol facts (https://open.weibo.com/wiki/2/statuses/share):
- ``status`` "内容不超过140个汉字，文本中不能包含“#话题词#”，同时文本中必须包含至少一个第三方分享到微博的网页URL，
  且该URL只能是该第三方（调用方）绑定域下的URL链接" (the app's 安全域名).
- ``pic`` JPEG/GIF/PNG only, "上传图片大小限制为<5M".
- ``rip`` is marked *required* (true) on the current page ("请传操作用户的真实有效IP"); docs/facts.md and
  an older revision (https://open.weibo.com/wiki/index.php?title=2/statuses/share&oldid=15267) call it
  optional. We follow the newer page and always send it.

How characters are counted: Weibo documents only "140个汉字". Its composer counts a full-width/CJK character as
one and an ASCII (half-width) character as a half, rounding up; links are shortened to t.cn and counted as a
fixed ~10 characters (20 half-width units). Reference: the WeCase client's ``tweetLength``, documented as
"bug-for-bug compatible with Sina's" counter (GPL; read, not copied).
We count half-width as half too, but count our link at its full length (conservative: the post fits whether
or not the server shortens links first).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urldefrag, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels.base import PermanentError
from core.content import image_urls, sanitize, source_line, to_text
from core.models import Item, UnitRef

WEIBO_MAX_CHARS = 140
ELLIPSIS = "…"
_TOPIC_MARKS = re.compile(r"[#＃]")
_WS = re.compile(r"\s+")
_OPENERS = "《〈“‘（(【〔［[「『{"
_TRAILING_PUNCT = "，、；：,;:　 "
_MIN_SUMMARY_CHARS = 8


class WeiboOptions(BaseModel):
    """``account.options`` of a Weibo account."""

    model_config = ConfigDict(extra="forbid")

    safe_domain: str                               # the app's 安全域名, e.g. "ezhou.gov.cn"
    rip: str                                       # public IP reported as the operator's real IP
    # None (default): the unit's own reprint page when it has a website channel (static export or CMS; the post
    # waits until that page is published), else the upstream URL. A template may use {page_url} (that page),
    # {upstream_url}, {unit_id}, and the older item_id / guid / source_id / content_hash, which name no page a
    # website channel of ours writes: check-config rejects them where the unit has a static export.
    link_template: str | None = None
    page_wait_s: float = Field(120.0, gt=0)        # retry interval while the unit's reprint page is not out yet
    reauth_alert_days: int = Field(7, ge=1, le=90)   # alert this many days before the token expires
    app_key: str | None = None                     # the Weibo app's key (public; app_secret is a credential)
    max_chars: int = Field(WEIBO_MAX_CHARS, ge=40, le=WEIBO_MAX_CHARS)
    include_summary: bool = True
    attach_image: bool = True
    max_image_bytes: int = Field(5 * 1024 * 1024 - 1, gt=0, lt=5 * 1024 * 1024)
    status_url_template: str = "https://m.weibo.cn/status/{id}"
    connect_retries: int = Field(2, ge=0, le=5)    # retries when the connection could not be opened
    timeout_s: float = Field(30.0, gt=0)

    @field_validator("safe_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower().lstrip(".")
        if not value or "/" in value or ":" in value:
            raise ValueError("safe_domain must be a bare host name such as ezhou.gov.cn")
        return value

    @field_validator("rip")
    @classmethod
    def _ip(cls, value: str) -> str:
        return str(ipaddress.ip_address(value.strip()))


@dataclass(frozen=True, slots=True)
class WeiboPost:
    status: str
    link: str
    image_url: str | None = None
    truncated: bool = False


def char_units(text: str) -> int:
    """Length in half-character units: ASCII counts 1, everything else 2."""
    return sum(1 if ord(ch) < 0x80 else 2 for ch in text)


def weibo_length(text: str) -> int:
    """Length as Weibo counts it (140 allowed): half-width characters count a half, rounded up."""
    return (char_units(text) + 1) // 2


def strip_topics(text: str) -> str:
    """Remove every # / ＃ so no ``#话题#`` pair can form; the words stay."""
    return _TOPIC_MARKS.sub("", text)


def clean_text(text: str) -> str:
    return _WS.sub(" ", strip_topics(text)).strip()


def _glued(ch: str) -> bool:
    """Characters that belong to the one before them (combining marks, variation selectors, ZWJ)."""
    return unicodedata.combining(ch) > 0 or 0xFE00 <= ord(ch) <= 0xFE0F or ch in "\u200d\u20e3" or (
        0xE0100 <= ord(ch) <= 0xE01EF) or 0x1F3FB <= ord(ch) <= 0x1F3FF


def shorten(text: str, max_units: int) -> tuple[str, bool]:
    """``text`` cut on a character boundary with "…" so it fits ``max_units``; (result, was_cut)."""
    if char_units(text) <= max_units:
        return text, False
    room = max_units - char_units(ELLIPSIS)
    if room <= 0:
        return "", True
    used, end = 0, 0
    for index, ch in enumerate(text):
        cost = char_units(ch)
        if used + cost > room:
            break
        used += cost
        end = index + 1
    while end and (_glued(text[end]) or text[end - 1] == "\u200d"):
        end -= 1                                   # never split a character from its marks
    head = text[:end].rstrip(_TRAILING_PUNCT)
    while head and head[-1] in _OPENERS:           # no dangling 《 or “ before the ellipsis
        head = head[:-1].rstrip(_TRAILING_PUNCT)
    return (head + ELLIPSIS if head else ""), True


def on_safe_domain(url: str, domain: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return parts.scheme in ("http", "https") and (host == domain or host.endswith("." + domain))


def reprint_link(item: Item, unit: UnitRef, options: WeiboOptions, page_url: str | None = None) -> str:
    """The link on the safe domain that the post must carry; PermanentError when none can be made.

    Why not the gov.cn original: statuses/share requires the URL in ``status`` to be one "只能是该第三方（调用方）
    绑定域下的URL链接" (the app's 安全域名); a www.gov.cn link is refused with 10017 (or 20018 非法网址). So the post
    links the unit's own reprint page (``link_template``), which carries the 转载自 credit and the 原文链接 to
    gov.cn (the website channels write it); the post itself names the source in its text.
    """
    candidates: list[str] = []
    if options.link_template:
        fields: dict[str, Any] = {
            "item_id": item.id, "guid": quote(item.guid, safe=""), "source_id": quote(item.source_id, safe=""),
            "content_hash": item.content_hash, "unit_id": quote(unit.id, safe=""), "page_url": page_url,
            "upstream_url": item.url,
        }
        missing = ("{item_id}" in options.link_template and item.id is None) or (
            "{page_url}" in options.link_template and page_url is None)
        try:
            if not missing:
                candidates.append(options.link_template.format_map(fields))
        except (KeyError, IndexError, ValueError):
            raise PermanentError(
                "微博转载链接模板配置有误，请管理员修正 link_template",
                f"weibo link_template {options.link_template!r} cannot be formatted",
            ) from None
    elif page_url:
        candidates.append(page_url)
    candidates += [item.canonical_url, item.url]
    for url in candidates:
        if url and on_safe_domain(url, options.safe_domain):
            return urldefrag(url).url               # a '#fragment' could pair with another '#'
    raise PermanentError(
        f"无法生成安全域名（{options.safe_domain}）下的转载链接，微博会拒收（10017），请配置 link_template",
        f"no link on safe domain {options.safe_domain} for item {item.id or item.guid}",
    )


def _summary(item: Item, title: str) -> str:
    """The item's summary, else its first real paragraph (not the 各省、自治区……： addressee line)."""
    text = item.summary
    if not text:
        # Item.content should already be sanitised; sanitise again so no <style>/<script> text leaks in.
        lines = (line.strip() for line in to_text(sanitize(item.content)).split("\n"))
        text = next((line for line in lines if line and not line.endswith(("：", ":"))), "")
    text = clean_text(text)
    if not text or text == title or text.startswith(title):
        return ""
    return text


def render_post(item: Item, unit: UnitRef, options: WeiboOptions, page_url: str | None = None) -> WeiboPost:
    """``【标题】摘要（转载自 中国政府网） https://link`` in at most ``max_chars`` Weibo characters.

    Priority: the link (never cut), then the source credit (the reprint duty requires it; room is reserved
    before the title is shortened), then the title (cut with "…" if it must be), then as much of the summary as
    fits. Only when the link leaves too little room for both does a shorter credit 「（转载）」 stand in.
    """
    link = reprint_link(item, unit, options, page_url)
    budget = options.max_chars * 2
    link_part = " " + link
    title = clean_text(item.title) or "转载"
    fixed = char_units(link_part) + char_units("【】")
    min_title = char_units("通知" + ELLIPSIS)
    credit = ""
    for candidate in (f"（{clean_text(source_line(item))}）", "（转载）"):
        if budget - fixed - char_units(candidate) >= min_title:
            credit = candidate
            break
    if not credit:
        raise PermanentError(
            "转载链接过长，放不进微博的140字，请缩短 link_template",
            f"link of {len(link)} chars leaves no room for a title and the source credit",
        )
    short_title, truncated = shorten(title, budget - fixed - char_units(credit))
    head = f"【{short_title}】"
    rest = budget - char_units(head) - char_units(credit) - char_units(link_part)
    summary = _summary(item, title) if options.include_summary and not truncated else ""
    if summary:
        summary, _ = shorten(summary, rest)
        if weibo_length(summary) < _MIN_SUMMARY_CHARS:
            summary = ""
    status = f"{head}{summary}{credit}{link_part}"
    images = list(item.images) or image_urls(sanitize(item.content), item.url)
    return WeiboPost(status=status, link=link, image_url=images[0] if images else None, truncated=truncated)
