"""Is an extracted article body an article? A check every body passes before it may be reprinted.

A body selector that misses (a changed template, a stray ``</html>`` hiding the article in a second
root) and a main-content heuristic that then picks the page's menu give "首页 | 简 | 繁 | EN | 登录 |
无障碍 …" — which a unit would otherwise reprint as the State Council's document. The checks are
cheap and conservative; each failure says in Simplified Chinese what was seen, since it reaches the
operator and the delay record (prefixed "正文提取异常"):

- no text, or fewer than ``min_chars`` characters;
- link density: most of the text sits inside links (menus, related-article lists);
- navigation markers: three or more distinct menu words as separate tokens, or a leading breadcrumb;
- when the list gave a summary: almost none of its character pairs occur in the body.
"""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

_WS = re.compile(r"\s+")
_TOKEN_SPLIT = re.compile(r"[\s|｜/>›»·•、]+")
# Menu and header words of Chinese government portals (gov.cn's top bar reads
# "首页 | 简 | 繁 | EN | 登录 | 个人中心 | 无障碍"); a real article has at most one of these as a token.
NAV_MARKERS = frozenset({
    "首页", "简", "繁", "简体", "繁体", "EN", "English", "登录", "注册", "退出", "个人中心", "无障碍", "长者模式",
    "网站地图", "设为首页", "加入收藏", "收藏本站", "关于我们", "联系我们", "返回顶部", "搜索", "RSS", "智能问答",
})
_BREADCRUMB = re.compile(r"^(?:当前位置|您现在的位置|您当前的位置|您的位置|当前页面)\s*[:：]?")
SUMMARY_MIN_CHARS = 20                 # shorter list summaries say too little to compare
SUMMARY_MIN_OVERLAP = 0.2              # share of the summary's character pairs found in the body


def body_text_and_link_chars(content_html: str) -> tuple[str, int]:
    """Visible text of a body fragment and how many of its characters sit inside links."""
    if not content_html.strip():
        return "", 0
    try:
        root = lxml.html.fragment_fromstring(content_html, create_parent="div")
    except (etree.ParserError, ValueError):
        return _WS.sub(" ", content_html).strip(), 0
    for bad in root.xpath(".//script|.//style"):
        bad.drop_tree()
    text = _WS.sub(" ", root.text_content()).strip()
    linked = sum(len(_WS.sub("", a.text_content())) for a in root.iter("a"))
    return text, linked


def check_body(content_html: str, *, min_chars: int = 5, max_link_density: float = 0.5,
               summary: str = "") -> str | None:
    """None for a plausible article body, else what is wrong with it (Chinese, one clause)."""
    text, linked = body_text_and_link_chars(content_html)
    dense = _WS.sub("", text)
    if not dense:
        return "文章页未找到正文"
    if len(dense) < min_chars:
        return f"正文仅 {len(dense)} 字（“{text[:60]}”），少于 {min_chars} 字"
    density = linked / len(dense)
    if density > max_link_density:
        return f"正文 {density:.0%} 的文字在链接中，是菜单或列表而非文章"
    markers = sorted({t for t in _TOKEN_SPLIT.split(text) if t in NAV_MARKERS})
    if len(markers) >= 3:
        return f"正文含导航用语（{'、'.join(markers[:6])}），是页面菜单而非文章"
    if _BREADCRUMB.match(text):
        return f"正文以导航路径开头（“{text[:40]}”），是页面导航而非文章"
    if summary and len(_WS.sub("", summary)) >= SUMMARY_MIN_CHARS:
        overlap = bigram_overlap(summary, dense)
        if overlap < SUMMARY_MIN_OVERLAP:
            return f"正文与列表摘要仅 {overlap:.0%} 相符，可能是其他页面的内容"
    return None


def bigram_overlap(summary: str, body: str) -> float:
    """Share of the summary's distinct character pairs that occur in the body."""
    s = _WS.sub("", summary)
    pairs = {s[i:i + 2] for i in range(len(s) - 1)}
    if not pairs:
        return 1.0
    body_pairs = {body[i:i + 2] for i in range(len(body) - 1)}
    return len(pairs & body_pairs) / len(pairs)
