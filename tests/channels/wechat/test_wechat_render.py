"""WeChat rendering of realistic State Council content (pure, no network)."""

from __future__ import annotations

import lxml.html

from channels.wechat.render import (
    CONTENT_MAX,
    DIGEST_MAX,
    MISSING_IMAGE_HTML,
    TITLE_MAX,
    rehost,
    render_article,
)
from tests.wechat_support import LONG_TITLE, UNIT, state_council_item

BASE = "https://www.gov.cn"


def test_long_title_is_clipped_and_kept_whole_in_body() -> None:
    article = render_article(state_council_item(BASE), UNIT)
    assert len(LONG_TITLE) > TITLE_MAX
    assert len(article.title) == TITLE_MAX and article.title.endswith("…")
    assert article.title.startswith("国务院办公厅关于印发《推动大规模设备更新")
    assert article.content.startswith(f"<p><strong>{LONG_TITLE}</strong></p>")
    assert any("标题超过微信32字限制" in n for n in article.notes)


def test_short_title_untouched() -> None:
    article = render_article(state_council_item(BASE, title="国务院关于 2026 年\n部分节假日安排的通知"), UNIT)
    assert article.title == "国务院关于 2026 年 部分节假日安排的通知"
    assert not article.notes
    assert not article.content.startswith("<p><strong>")


def test_scripts_styles_iframes_handlers_do_not_survive() -> None:
    html = render_article(state_council_item(BASE), UNIT).content
    for bad in ("<script", "alert(", "<style", "font-size: 16px", "<iframe", "evil.example", "onclick", "steal()"):
        assert bad not in html


def test_tables_kept_links_unwrapped_source_appended() -> None:
    article = render_article(state_council_item(BASE), UNIT)
    doc = lxml.html.fragment_fromstring(article.content, create_parent="div")
    table = doc.find(".//table")
    assert table is not None and "border-collapse" in table.get("style", "")
    assert [c.text for c in doc.iter("th")] == ["序号", "任务", "牵头单位"]
    assert doc.find(".//a") is None and "详见附件。" in doc.text_content()
    footer = doc[-1].text_content()
    assert footer.startswith("转载自 中国政府网") and "原文链接：https://www.gov.cn/zhengce/content/202403/" in footer
    assert article.content_source_url == "https://www.gov.cn/zhengce/content/202403/content_6941846.htm"
    assert "各省、自治区、直辖市人民政府，国务院各部委、各直属机构：" in doc.text_content()


def test_images_listed_once_in_order_and_absolute() -> None:
    item = state_council_item(BASE, extra='<p><img src="/images/c.png" width="600"></p>')
    article = render_article(item, UNIT)
    assert article.images == (f"{BASE}/img/a.png", f"{BASE}/img/b.jpg", "https://www.gov.cn/images/c.png")


def test_digest_is_plain_text_within_limit() -> None:
    item = state_council_item(BASE, extra="<p>" + "为加快构建新发展格局，推动高质量发展。" * 20 + "</p>")
    article = render_article(item, UNIT)
    assert len(article.digest) <= DIGEST_MAX and "<" not in article.digest and "alert" not in article.digest
    assert article.digest.startswith("各省、自治区、直辖市人民政府")
    assert article.author == "鄂州市发展和改革委员会"
    assert render_article(item, UNIT, author="鄂州发布").author == "鄂州发布"


def test_very_long_content_is_cut_at_a_block_with_notice() -> None:
    extra = "".join(f"<p>第{i}条　" + "各地区各部门要结合实际认真抓好落实。" * 20 + "</p>" for i in range(200))
    article = render_article(state_council_item(BASE, extra=extra), UNIT)
    assert len(article.content) < CONTENT_MAX
    assert "以上为节选" in article.content and "原文链接" in article.content
    assert "第0条" in article.content and "第40条" in article.content and "第199条" not in article.content
    assert any("2万字符" in n for n in article.notes)
    lxml.html.fragment_fromstring(article.content, create_parent="div")   # still well-formed


def test_rehost_replaces_sources_and_marks_missing() -> None:
    article = render_article(state_council_item(BASE), UNIT)
    hosted = {f"{BASE}/img/a.png": "http://mmbiz.qpic.cn/sz_mmbiz_png/abc/0", f"{BASE}/img/b.jpg": None}
    html, dropped = rehost(article.content, hosted)
    assert dropped == 1
    assert html.count("http://mmbiz.qpic.cn/sz_mmbiz_png/abc/0") == 2
    assert f"{BASE}/img" not in html and MISSING_IMAGE_HTML in html
    assert "国务院办公厅" in html


def test_draft_fields() -> None:
    article = render_article(state_council_item(BASE), UNIT)
    draft = article.draft("<p>x</p>", "thumb-1", need_open_comment=True)
    assert draft["thumb_media_id"] == "thumb-1" and draft["need_open_comment"] == 1
    assert draft["only_fans_can_comment"] == 0 and draft["article_type"] == "news"
    assert draft["content_source_url"] == article.content_source_url
