"""The shipped presets (config/sources/*.toml) are valid settings and read the look-alike pages,
both the hand-written fixtures and the sandbox's (sandbox/govsite.py)."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from core.content import to_text
from core.fetch import decode_body
from feeds.article import parse_article
from feeds.browser import CHROMIUM
from feeds.dates import SHANGHAI
from feeds.html_list import check_html_spec, next_page_url, parse_html_list
from feeds.json_list import parse_json_list
from feeds.specs import ArticleSpec, HtmlListSpec, JsonListSpec
from sandbox.govsite import GOVSITE, add_govsite_routes
from sandbox.upstream import UPSTREAM, UpstreamState, build_app
from syndicator.config import SourceSettings
from tests.paths import FIXTURES_DIR, ROOT_DIR

ROOT = ROOT_DIR
FIXTURES = FIXTURES_DIR / "upstream"
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


GOV = "https://www.gov.cn/zhengce/content/202611/content_"
HUBEI = "https://www.hubei.gov.cn/zfwj/ezf/202611/t"
# Every entry each preset must read from its fixture: (title, url, date as YYYY-MM-DD or a problem word).
EXPECTED_HTML = {
    "gov-gwyxx": ("gov_pushinfo_v150203", ".html", [
        ("国务院办公厅关于进一步优化政务服务提升行政效能的意见", f"{GOV}7100001.htm", "2026-11-25"),
        ("国务院关于同意在部分地区开展综合改革试点的批复", f"{GOV}7100002.htm", "2026-11-24"),
        ("国务院办公厅关于印发《城市更新行动方案》的通知", f"{GOV}7100003.htm", "2026-11-24"),
        ("国务院关于修改部分行政法规的决定", f"{GOV}7100004.htm", "2026-11-21"),    # fragment dropped, listed once
        ("国务院办公厅转发国家发展改革委关于促进消费扩容提质的意见", f"{GOV}7100005.htm", "2026-11-20"),
        ("国务院办公厅关于做好冬春季安全生产工作的通知", f"{GOV}7100006.htm", "problem: day 31"),
    ]),
    "hubei-ezf": ("hubei_zfwj_ezf_index", ".shtml", [
        ("湖北省人民政府关于印发湖北省加快建设全国构建新发展格局先行区实施方案的通知", f"{HUBEI}20261125_5200101.shtml",
         "2026-11-25"),
        ("湖北省人民政府关于公布第七批省级非物质文化遗产代表性项目名录的通知", f"{HUBEI}20261121_5200087.shtml",
         "2026-11-21"),
        ("湖北省人民政府关于调整鄂州市部分行政区划的批复", f"{HUBEI}20261118_5200050.shtml", "2026-11-18"),
        ("湖北省人民政府关于表彰全省脱贫攻坚成果巩固先进集体和先进个人的决定（湉）",
         "http://www.hubei.gov.cn/zfwj/ezf/202611/t20261110_5199900.shtml", "2026-11-10"),
        ("湖北省人民政府关于同意设立湖北鄂州临空经济区的批复", f"{HUBEI}20261105_5199800.shtml",
         "problem: no date"),                                                  # no span: said, not silent
    ]),                                         # full titles from title=, [解读]/[图解] links not items
}
# Each fixture as the real site serves it, and re-encoded the other way (gov.cn's older GBK
# columns, Hubei's newer UTF-8 templates); the charset is declared in the page either way.
VARIANTS = {"gov_pushinfo_v150203": ("", ".gbk"), "gov_zhengce_zuixin": ("", ".gbk"),
            "gov_zhengce_zuixin_ZUIXINZHENGCE": ("", ".gbk"),
            "gov_zhengce_content_7100001": ("", ".gbk"), "gov_zhengce_jiedu_ZCJD_QZ": ("", ".gbk"),
            "gov_search_policy_library": ("", ".gbk"), "hubei_zfwj_ezf_index": ("", ".utf8"),
            "hubei_zfwj_ezf_t20261118_5200050": ("", ".utf8")}


def check_entry(entry: Any, expected: tuple[str, str, str]) -> None:
    title, url, date = expected
    assert (entry.title, entry.url) == (title, url)
    assert entry.published_at is not None or entry.date_problem, "a missing date must be a date problem"
    if date.startswith("problem: "):
        assert entry.published_at is None and date.removeprefix("problem: ") in (entry.date_problem or "")
    else:
        assert entry.date_problem is None
        assert entry.published_at == datetime.fromisoformat(date).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize("source_id", sorted(EXPECTED_HTML))
@pytest.mark.parametrize("variant", [0, 1], ids=["as-served", "re-encoded"])
def test_html_presets_on_fixtures(source_id: str, variant: int) -> None:
    stem, ext, expected = EXPECTED_HTML[source_id]
    name = stem + VARIANTS[stem][variant] + ext
    entries = parse_html_list(fixture_text(name), SOURCES[source_id]["url"], html_spec(source_id))
    assert len(entries) == len(expected)
    for entry, want in zip(entries, expected, strict=True):
        check_entry(entry, want)


def test_fixture_variants_say_the_same_in_another_encoding() -> None:
    """Each re-encoded fixture really is in its encoding and differs from its twin only there."""
    for stem, (_, suffix) in VARIANTS.items():
        (variant,) = FIXTURES.glob(f"{stem}{suffix}.*")
        twin = FIXTURES / variant.name.replace(suffix, "", 1)
        variant.read_bytes().decode("utf-8" if suffix == ".utf8" else "gbk")   # strict: no stray bytes
        assert _undeclared(fixture_text(variant.name)) == _undeclared(fixture_text(twin.name)), variant.name


def _undeclared(text: str) -> str:
    return re.sub(r"charset=[\"']?[\w-]+", "charset=", text)


def test_hubei_preset_pages() -> None:
    spec = html_spec("hubei-ezf")
    for name in ("hubei_zfwj_ezf_index.shtml", "hubei_zfwj_ezf_index.utf8.shtml"):
        assert next_page_url(fixture_text(name), SOURCES["hubei-ezf"]["url"], spec) == \
            "https://www.hubei.gov.cn/zfwj/ezf/index_1.shtml"
    assert next_page_url(fixture_text("hubei_zfwj_ezf_index_7.shtml"),
                         "https://www.hubei.gov.cn/zfwj/ezf/index_7.shtml", spec) is None


@pytest.mark.parametrize("name", ["hubei_zfwj_ezf_t20261118_5200050.shtml",
                                  "hubei_zfwj_ezf_t20261118_5200050.utf8.shtml"])
@pytest.mark.parametrize("source_id", [s for s in sorted(SOURCES) if s.startswith("hubei-")])
def test_hubei_article_preset(source_id: str, name: str) -> None:
    url = "https://www.hubei.gov.cn/zfwj/ezf/202611/t20261118_5200050.shtml"
    article = parse_article(fixture_text(name), url, article_spec(source_id))
    assert article.guid == "5200050" and article.title == "湖北省人民政府关于调整鄂州市部分行政区划的批复"
    assert article.published_at == datetime(2026, 11, 18, 16, 20, tzinfo=SHANGHAI) and article.date_problem is None
    text = to_text(article.content_html)
    assert text.startswith("鄂州市人民政府：") and "你市《关于调整部分行政区划的请示》收悉" in text
    assert "（湉）" in text and "湖北省人民政府 2026年11月15日" in " ".join(text.split())
    assert "索引号" not in text and "湖北省人民政府关于调整" not in text      # body only, no header table


EXPECTED_JSON = {
    "gov-jiedu": ("gov_zhengce_jiedu_ZCJD_QZ", [
        ("一图读懂｜进一步优化政务服务提升行政效能", "https://www.gov.cn/zhengce/202611/content_7100101.htm",
         "2026-11-25"),
        ("国务院政策例行吹风会：城市更新行动方案有关情况", "https://www.gov.cn/zhengce/202611/content_7100102.htm",
         "2026-11-24"),                                                        # relative URL made absolute
        ("专家解读：促进消费扩容提质 & 释放内需潜力", "https://www.gov.cn/zhengce/202611/content_7100103.htm",
         "2026-11-02"),
        ("日期缺失的解读", "https://www.gov.cn/zhengce/202611/content_7100105.htm", "problem: month 0"),
    ], [{"source": "中国政府网"}, {"source": "国务院新闻办公室"}, {"source": "新华社"}, {}]),
    # searchVO.listVO is null; every catMap category is read in order; pubtimeStr null -> ptime (ms).
    "gov-zhengceku": ("gov_search_policy_library", [
        ("国务院办公厅关于进一步优化政务服务提升行政效能的意见", f"{GOV}7100001.htm", "2026-11-25"),
        ("国务院关于同意在部分地区开展综合改革试点的批复", f"{GOV}7100002.htm", "2026-11-24T10:00"),
        ("国家发展改革委关于印发《促进民营经济发展若干措施》的通知",
         "https://www.gov.cn/zhengce/zhengceku/202611/content_7100201.htm", "2026-11-23"),
        ("国务院办公厅关于印发《城市更新行动方案》的通知", "http://www.gov.cn/zhengce/content/202611/content_7100003.htm",
         "2026-11-24"),
    ], [{"puborg": "国务院办公厅", "pcode": "国办发〔2026〕41号"}, {"puborg": "国务院", "pcode": "国函〔2026〕130号"},
        {"puborg": "国家发展改革委", "pcode": "发改体改〔2026〕1650号"},
        {"puborg": "国务院办公厅", "pcode": "国办发〔2026〕40号"}]),
    # The data behind the JavaScript-shell page; a null DOCRELPUBTIME is a date problem.
    "gov-zuixin": ("gov_zhengce_zuixin_ZUIXINZHENGCE", [
        ("国务院办公厅关于进一步优化政务服务提升行政效能的意见", f"{GOV}7100001.htm", "2026-11-25"),
        ("国务院办公厅关于加快构建全国统一大市场推动要素市场化配置综合改革试点的实施意见", f"{GOV}7100007.htm",
         "2026-11-25"),
        ("国务院关于同意在部分地区开展综合改革试点的批复", f"{GOV}7100002.htm", "2026-11-24"),
        ("国务院关于修改部分行政法规的决定", f"{GOV}7100004.htm", "problem: no date"),
    ], [{"sub_title": ""}, {"sub_title": "推动要素市场化配置综合改革试点"}, {"sub_title": ""}, {"sub_title": ""}]),
}


@pytest.mark.parametrize("source_id", sorted(EXPECTED_JSON))
@pytest.mark.parametrize("variant", [0, 1], ids=["as-served", "re-encoded"])
def test_json_presets_on_fixtures(source_id: str, variant: int) -> None:
    stem, expected, extras = EXPECTED_JSON[source_id]
    body = (FIXTURES / f"{stem}{VARIANTS[stem][variant]}.json").read_bytes()
    entries = parse_json_list(body, SOURCES[source_id]["url"], json_spec(source_id))
    assert len(entries) == len(expected)
    for entry, want, extra in zip(entries, expected, extras, strict=True):
        check_entry(entry, want)
        assert entry.extra == extra


@pytest.mark.parametrize("name", ["gov_zhengce_content_7100001.htm", "gov_zhengce_content_7100001.gbk.htm"])
@pytest.mark.parametrize("source_id", ["gov-gwyxx", "gov-zuixin", "gov-jiedu", "gov-zhengceku"])
def test_gov_article_preset(source_id: str, name: str) -> None:
    article = parse_article(fixture_text(name), f"{GOV}7100001.htm", article_spec(source_id))
    assert article.guid == "7100001" and article.published_at == datetime(2026, 11, 25, 17, 45, 12, tzinfo=SHANGHAI)
    assert article.title == "国务院办公厅关于进一步优化政务服务提升行政效能的意见"
    text = to_text(article.content_html)
    assert text.startswith("各省、自治区、直辖市人民政府，国务院各部委、各直属机构：")
    assert "为进一步优化政务服务、提升行政效能，经国务院同意，现提出以下意见。" in text
    assert "附件：重点任务分工表" in text and text.endswith("国务院办公厅\n2026年11月20日")
    assert "中国政府网" not in text and "发文字号" not in text                  # body only


@pytest.mark.parametrize(("gov_charset", "hubei_charset"), [("utf-8", "gbk"), ("gbk", "utf-8")],
                         ids=["as-served", "re-encoded"])
async def test_presets_read_the_sandbox(gov_charset: str, hubei_charset: str) -> None:
    app = build_app()
    add_govsite_routes(app)
    app[UPSTREAM].html_charset = gov_charset
    app[GOVSITE].hubei_charset = hubei_charset
    t0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    state = app[UPSTREAM]
    docs = [state.publish(f"国务院办公厅关于印发第{i}号示范方案的通知（湉）", feeds={"gwy", "jiedu", "province"},
                          published_at=t0 - timedelta(hours=7 * i)) for i in range(13)]
    newest = sorted(docs, key=lambda d: d.published_at, reverse=True)
    browser_ua = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36"}
    async with TestClient(TestServer(app)) as client:
        async def get(path: str, *, declared_in_header: bool, **kw: Any) -> str:
            resp = await client.get(path, **kw)
            assert resp.status == 200, path
            body, content_type = await resp.read(), resp.headers.get("Content-Type", "")
            assert ("charset=" in content_type) == declared_in_header, (path, content_type)
            text, _ = decode_body(body, content_type)
            assert "湉" in text, path                                     # decoded, not mojibake
            return text

        base = str(client.make_url("")).rstrip("/")
        urls = [base + d.path for d in newest]
        dates = [d.published_at.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0) for d in newest]
        text = await get("/pushinfo/v150203/", declared_in_header=True)
        assert f'<meta charset="{gov_charset}">' in text
        entries = parse_html_list(text, base + "/pushinfo/v150203/", html_spec("gov-gwyxx"))
        assert [(e.title, e.url, e.published_at) for e in entries] == \
            [(d.title, u, day) for d, u, day in zip(newest, urls, dates, strict=True)]
        shell = (await client.get("/zhengce/zuixin/")).status, await (await client.get("/zhengce/zuixin/")).text()
        assert shell[0] == 200 and '<ul id="list-1-ajax-id"></ul>' in shell[1] and "ZUIXINZHENGCE.json" in shell[1]
        # pubtimeStr is null on every third library hit: ptime (ms) gives the exact time instead of the day.
        library_day = [day if d.id % 3 else d.published_at for d, day in zip(newest, dates, strict=True)]
        for source_id, path, kw, want_dates in (
                ("gov-jiedu", "/zhengce/jiedu/ZCJD_QZ.json", {}, dates),
                ("gov-zuixin", "/zhengce/zuixin/ZUIXINZHENGCE.json", {}, dates),
                ("gov-zhengceku", "/search-gov/data?t=zhengcelibrary&q=示范&p=1&n=5", {"headers": browser_ua},
                 library_day)):
            text = await get(path, declared_in_header=True, **kw)
            entries = parse_json_list(text, base, json_spec(source_id))
            n = len(entries)
            assert [(e.title, e.url, e.published_at) for e in entries] == \
                [(d.title, u, day) for d, u, day in zip(newest[:n], urls[:n], want_dates[:n], strict=True)], source_id
            assert n == (5 if source_id == "gov-zhengceku" else 13)
            assert all(e.date_problem is None for e in entries)
        library = parse_json_list(await get("/search-gov/data?q=&p=1&n=1", declared_in_header=True, headers=browser_ua),
                                  base, json_spec("gov-zhengceku"))
        assert library[0].extra == {"puborg": "国务院办公厅", "pcode": f"国办发〔2026〕{newest[0].id % 100}号"}

        page0 = base + "/zfwj/ezf/index.shtml"
        text = await get("/zfwj/ezf/index.shtml", declared_in_header=False)     # TRS: charset in the meta only
        label = "gb2312" if hubei_charset == "gbk" else "utf-8"
        assert f'content="text/html; charset={label}"' in text
        first = parse_html_list(text, page0, html_spec("hubei-ezf"))
        assert [(e.title, e.published_at) for e in first] == list(zip([d.title for d in newest[:10]], dates[:10],
                                                                       strict=True))
        assert first[0].url == base + f"/zfwj/ezf/202611/t20261125_{newest[0].id}.shtml"
        page1 = next_page_url(text, page0, html_spec("hubei-ezf"))
        assert page1 == base + "/zfwj/ezf/index_1.shtml"
        second_text = await get("/zfwj/ezf/index_1.shtml", declared_in_header=False)
        assert [e.title for e in parse_html_list(second_text, page1, html_spec("hubei-ezf"))] == \
            [d.title for d in newest[10:]]
        assert next_page_url(second_text, page1, html_spec("hubei-ezf")) is None
        article = parse_article(await get(first[0].url.removeprefix(base), declared_in_header=False), first[0].url,
                                article_spec("hubei-ezf"))
        assert article.guid == str(newest[0].id) and article.title == newest[0].title
        assert article.published_at == newest[0].published_at.replace(second=0)
        assert f"{newest[0].title}已经国务院同意，现予印发" in to_text(article.content_html)
        gov_article = parse_article(await get(newest[0].path, declared_in_header=True), urls[0],
                                    article_spec("gov-gwyxx"))
        assert gov_article.guid == str(newest[0].id) and gov_article.published_at == newest[0].published_at
        assert to_text(gov_article.content_html).startswith(f"{newest[0].title}已经国务院同意，现予印发")


def _browser_ready() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return os.access(CHROMIUM, os.X_OK)


def _preset(preset_id: str) -> Any:
    if preset_id in ("gov-zhengceku", "hubei-ezf") and not os.environ.get("CI"):
        return pytest.param(preset_id, marks=pytest.mark.skipif(
            not _browser_ready(), reason=f"fetch = 'browser' needs playwright and Chromium at {CHROMIUM}"))
    return preset_id


@pytest.mark.parametrize("preset_id", [_preset(p) for p in
                                       ("gov-zuixin", "gov-jiedu", "gov-gwyxx", "gov-zhengceku", "hubei-ezf")])
async def test_probe_and_list_work_for_every_kind_of_preset(tmp_path: Path, serve, preset_id: str) -> None:
    """The shipped presets, unchanged but for the host, pointed at the look-alikes: `sources probe`
    produces items with bodies and dates for every kind (HTML, JSON, the policy library behind its
    User-Agent firewall, the Hubei portal behind its 412 script gate) and `sources list` shows them."""
    import asyncio
    import json
    import sys

    state = UpstreamState()
    doc = state.publish("国务院关于印发预设来源测试方案的通知", feeds={"gwy", "jiedu", "province"})
    app = build_app(state)
    add_govsite_routes(app)
    base = await serve(app)
    presets = {}
    for path in PRESET_FILES:                  # the Hubei portal is reached through its bot gate
        presets[path.name] = path.read_text("utf-8").replace("https://www.gov.cn", base).replace(
            "https://sousuo.www.gov.cn", base).replace("https://www.hubei.gov.cn", base + "/gated")
        (tmp_path / path.name).write_text(presets[path.name], "utf-8")
    names = ", ".join(f'"{p.name}"' for p in PRESET_FILES)
    config = tmp_path / "c.toml"
    config.write_text(f'source_files = [{names}]\n[storage]\nurl = "sqlite:///{tmp_path / "hub.db"}"\n', "utf-8")

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "main.py"), *args, "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, err = await run("sources", "probe", preset_id)
    assert code == 0, err
    items = [json.loads(line) for line in out.splitlines()]
    ours = [i for i in items if i["title"] == doc.title]
    assert len(ours) == 1, items
    item = ours[0]
    assert item["required"] and item["content_chars"] > 20 and item["problem"] is None, item
    assert item["published_at"] and item["date_problem"] is None, item
    assert item["url"].endswith(f"{doc.id}.shtml" if preset_id.startswith("hubei-") else doc.path), item
    code, out, err = await run("sources", "list")
    assert code == 0, err
    health = {h["id"]: h for h in map(json.loads, out.splitlines())}
    assert health[preset_id]["live_check"] == "needed" and health[preset_id]["consecutive_errors"] == 0
