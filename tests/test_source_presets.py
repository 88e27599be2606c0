"""The shipped presets (config/sources/*.toml) are valid settings and read the look-alike pages,
both the hand-written fixtures and the sandbox's (sandbox/govsite.py)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from feeds.article import parse_article
from feeds.fetch import decode_body
from feeds.html_list import check_html_spec, next_page_url, parse_html_list
from feeds.json_list import parse_json_list
from feeds.specs import ArticleSpec, HtmlListSpec, JsonListSpec
from sandbox.govsite import add_govsite_routes
from sandbox.upstream import UPSTREAM, build_app
from syndicator.config import SourceSettings

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
PRESET_FILES = sorted((ROOT / "config" / "sources").glob("*.toml"))


def all_sources() -> dict[str, dict[str, Any]]:
    sources: dict[str, dict[str, Any]] = {}
    for path in PRESET_FILES:
        for raw in tomllib.loads(path.read_text("utf-8"))["sources"]:
            assert raw["id"] not in sources, f"{path.name}: duplicate id {raw['id']}"
            sources[raw["id"]] = raw
    return sources


SOURCES = all_sources()


def fixture_text(name: str) -> str:
    return decode_body((FIXTURES / name).read_bytes())[0]


@pytest.mark.parametrize("source_id", sorted(SOURCES))
def test_preset_is_valid(source_id: str) -> None:
    raw = SOURCES[source_id]
    settings = SourceSettings.model_validate(raw)
    assert raw["live_check"] == "needed"
    if settings.html:
        check_html_spec(settings.html)
    if raw["id"].startswith("hubei-"):
        assert settings.fetch == "browser" and settings.html and settings.html.next_page == "@trs"


def test_expected_presets_exist() -> None:
    assert {"gov-gwyxx", "gov-zuixin", "gov-jiedu", "gov-zhengceku"} <= set(SOURCES)
    assert {f"hubei-{c}" for c in ("ezf", "ezh", "ezbf", "szfl", "ezd", "qt")} <= set(SOURCES)


def html_spec(source_id: str) -> HtmlListSpec:
    return HtmlListSpec.model_validate(SOURCES[source_id]["html"])


def json_spec(source_id: str) -> JsonListSpec:
    return JsonListSpec.model_validate(SOURCES[source_id]["json"])


def article_spec(source_id: str) -> ArticleSpec:
    return ArticleSpec.model_validate(SOURCES[source_id]["article"])


@pytest.mark.parametrize(("source_id", "fixture", "count", "first_title"), [
    ("gov-gwyxx", "gov_pushinfo_v150203.html", 6, "国务院办公厅关于进一步优化政务服务提升行政效能的意见"),
    ("gov-zuixin", "gov_zhengce_zuixin.html", 3, "国务院办公厅关于进一步优化政务服务提升行政效能的意见"),
    ("hubei-ezf", "hubei_zfwj_ezf_index.shtml", 4,
     "湖北省人民政府关于印发湖北省加快建设全国构建新发展格局先行区实施方案的通知"),
])
def test_html_presets_on_fixtures(source_id: str, fixture: str, count: int, first_title: str) -> None:
    url = SOURCES[source_id]["url"]
    entries = parse_html_list(fixture_text(fixture), url, html_spec(source_id))
    assert len(entries) == count
    assert entries[0].title == first_title
    assert entries[0].published_at is not None and entries[0].published_at.year == 2026


def test_hubei_preset_pages_and_articles() -> None:
    spec = html_spec("hubei-ezf")
    assert next_page_url(fixture_text("hubei_zfwj_ezf_index.shtml"), SOURCES["hubei-ezf"]["url"], spec) == \
        "https://www.hubei.gov.cn/zfwj/ezf/index_1.shtml"
    url = "https://www.hubei.gov.cn/zfwj/ezf/202611/t20261118_5200050.shtml"
    article = parse_article(fixture_text("hubei_zfwj_ezf_t20261118_5200050.shtml"), url, article_spec("hubei-ezf"))
    assert article.guid == "5200050" and article.published_at is not None and article.content_html


@pytest.mark.parametrize(("source_id", "fixture", "count"), [
    ("gov-jiedu", "gov_zhengce_jiedu_ZCJD_QZ.json", 4),
    ("gov-zhengceku", "gov_search_policy_library.json", 3),
])
def test_json_presets_on_fixtures(source_id: str, fixture: str, count: int) -> None:
    entries = parse_json_list(fixture_text(fixture), SOURCES[source_id]["url"], json_spec(source_id))
    assert len(entries) == count
    assert all("<em>" not in e.title for e in entries)
    if source_id == "gov-zhengceku":
        assert entries[0].extra["pcode"] == "国办发〔2026〕41号"


@pytest.mark.parametrize("source_id", ["gov-gwyxx", "gov-zuixin", "gov-jiedu", "gov-zhengceku"])
def test_gov_article_preset(source_id: str) -> None:
    article = parse_article(fixture_text("gov_zhengce_content_7100001.htm"),
                            "https://www.gov.cn/zhengce/content/202611/content_7100001.htm", article_spec(source_id))
    assert article.guid == "7100001" and article.published_at is not None
    assert article.title == "国务院办公厅关于进一步优化政务服务提升行政效能的意见"


async def test_presets_read_the_sandbox() -> None:
    app = build_app()
    add_govsite_routes(app)
    t0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    state = app[UPSTREAM]
    docs = [state.publish(f"国务院办公厅关于印发第{i}号示范方案的通知", feeds={"gwy", "jiedu", "province"},
                          published_at=t0 - timedelta(hours=7 * i)) for i in range(13)]
    browser_ua = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36"}
    async with TestClient(TestServer(app)) as client:
        async def get(path: str, **kw: Any) -> str:
            resp = await client.get(path, **kw)
            assert resp.status == 200, path
            return decode_body(await resp.read(), resp.headers.get("Content-Type", ""))[0]

        base = str(client.make_url(""))
        expected = [base.rstrip("/") + d.path for d in sorted(docs, key=lambda d: d.published_at, reverse=True)]
        for source_id, path in (("gov-gwyxx", "/pushinfo/v150203/"), ("gov-zuixin", "/zhengce/zuixin/")):
            entries = parse_html_list(await get(path), base.rstrip("/") + path, html_spec(source_id))
            assert [e.url for e in entries] == expected, source_id
        entries = parse_json_list(await get("/zhengce/jiedu/ZCJD_QZ.json"), base, json_spec("gov-jiedu"))
        assert [e.url for e in entries] == expected
        entries = parse_json_list(await get("/search-gov/data?t=zhengcelibrary&q=示范&p=1&n=5", headers=browser_ua),
                                  base, json_spec("gov-zhengceku"))
        assert [e.url for e in entries] == expected[:5] and "示范" in entries[0].title
        page0 = base.rstrip("/") + "/zfwj/ezf/index.shtml"
        text = await get("/zfwj/ezf/index.shtml")
        first = parse_html_list(text, page0, html_spec("hubei-ezf"))
        assert len(first) == 10 and first[0].url.endswith(f"/zfwj/ezf/202611/t20261125_{docs[0].id}.shtml")
        page1 = next_page_url(text, page0, html_spec("hubei-ezf"))
        assert page1 == base.rstrip("/") + "/zfwj/ezf/index_1.shtml"
        second_text = await get("/zfwj/ezf/index_1.shtml")
        assert len(parse_html_list(second_text, page1, html_spec("hubei-ezf"))) == 3
        assert next_page_url(second_text, page1, html_spec("hubei-ezf")) is None
        article = parse_article(await get(first[0].url.removeprefix(base.rstrip("/"))), first[0].url,
                                article_spec("hubei-ezf"))
        assert article.guid == str(docs[0].id) and article.title == docs[0].title
        assert article.published_at == docs[0].published_at.replace(second=0)
        gov_article = parse_article(await get(docs[0].path), expected[0], article_spec("gov-gwyxx"))
        assert gov_article.guid == str(docs[0].id) and gov_article.published_at == docs[0].published_at
