"""feeds.json_list: dotted paths, <em> stripping, dates, and clear errors for non-JSON bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from feeds.dates import SHANGHAI
from feeds.json_list import get_path, load_json, parse_json_list
from feeds.model import ParseError
from feeds.specs import JsonListSpec
from tests.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "upstream"
LIBRARY = "https://sousuo.www.gov.cn/search-gov/data?t=zhengcelibrary&q=&sort=pubtime&sortType=1&p=1&n=20"
LIBRARY_SPEC = JsonListSpec(list_path="searchVO.listVO", title="title", url="url", date="pubtimeStr",
                            guid="id", extra={"puborg": "puborg", "pcode": "pcode"})


CATEGORIES = [f"searchVO.catMap.{c}.listVO" for c in ("gongwen", "bumenfile", "otherfile", "gongbao")]


def test_policy_library() -> None:
    """listVO is null for t=zhengcelibrary: the hits of every catMap category are read, in order."""
    spec = LIBRARY_SPEC.model_copy(update={"list_paths": CATEGORIES, "date_fallback": ["ptime"]})
    entries = parse_json_list((FIXTURES / "gov_search_policy_library.json").read_bytes(), LIBRARY, spec)
    assert [e.guid for e in entries] == ["7100001", "7100002", "7100201", "7100003"]
    assert entries[1].published_at == datetime(2026, 11, 24, 10, tzinfo=SHANGHAI)   # pubtimeStr null: ptime ms
    assert entries[1].date_problem is None and entries[1].published_raw == "1795485600000"
    first = entries[0]
    assert first.title == "国务院办公厅关于进一步优化政务服务提升行政效能的意见"     # <em> removed
    assert first.url == "https://www.gov.cn/zhengce/content/202611/content_7100001.htm"
    assert first.published_at == datetime(2026, 11, 25, tzinfo=SHANGHAI)
    assert first.guid == "7100001"
    assert first.extra == {"puborg": "国务院办公厅", "pcode": "国办发〔2026〕41号"}


def test_jiedu_root_array() -> None:
    spec = JsonListSpec(title="TITLE", url="URL", date="DOCRELPUBTIME")
    text = (FIXTURES / "gov_zhengce_jiedu_ZCJD_QZ.json").read_text("utf-8")
    entries = parse_json_list(text, "https://www.gov.cn/zhengce/jiedu/ZCJD_QZ.json", spec)
    assert [e.url.rsplit("_", 1)[1] for e in entries] == ["7100101.htm", "7100102.htm", "7100103.htm", "7100105.htm"]
    assert entries[1].url == "https://www.gov.cn/zhengce/202611/content_7100102.htm"     # relative made absolute
    assert entries[2].title == "专家解读：促进消费扩容提质 & 释放内需潜力"               # entity unescaped
    assert entries[2].published_at == datetime(2026, 11, 2, tzinfo=SHANGHAI)
    assert entries[3].published_at is None and "month 0" in (entries[3].date_problem or "")


@pytest.mark.parametrize("path", ["data.groups[1].items", "data.groups.1.items"])
def test_paths_with_indexes(path: str) -> None:
    body = {"data": {"groups": [{"items": []}, {"items": [{"t": "甲", "u": "/a", "d": 1795572000000},
                                                           {"t": "乙", "u": "/b", "d": 1795572000},
                                                           {"t": "丙", "u": "javascript:x()"}, "noise"]}]}}
    spec = JsonListSpec(list_path=path, title="t", url="u", date="d")
    entries = parse_json_list(json.dumps(body), "https://api.gov.cn/list", spec)
    assert [e.url for e in entries] == ["https://api.gov.cn/a", "https://api.gov.cn/b"]
    assert entries[0].published_at == entries[1].published_at == datetime(2026, 11, 25, 2, tzinfo=UTC)


def test_get_path() -> None:
    data = {"a": [{"b": {"c": 1}}], "x.y": 2}
    assert get_path(data, "a[0].b.c") == 1
    assert get_path(data, "a.0.b.c") == 1
    assert get_path(data, "a[3].b") is None
    assert get_path(data, "") == data


def test_html_instead_of_json_names_what_came() -> None:
    body = (FIXTURES / "gov_search_firewall_403.html").read_text("utf-8")
    with pytest.raises(ParseError) as info:
        parse_json_list(body, LIBRARY, LIBRARY_SPEC)
    message = str(info.value)
    assert LIBRARY in message and "got an HTML page" in message and "<!DOCTYPE html>" in message


@pytest.mark.parametrize(("body", "words"), [
    ("", "empty body"),
    ("{\"searchVO\": ", "not valid JSON"),
    ("{\"code\": 500}", "list path 'searchVO.listVO' not found; top level has keys 'code'"),
    ("{\"searchVO\": {\"listVO\": {\"a\": 1}}}", "holds dict, not a list"),
    ("[" * 100_000, "not valid JSON"),
])
def test_parse_errors(body: str, words: str) -> None:
    with pytest.raises(ParseError, match="search-gov") as info:
        parse_json_list(body, LIBRARY, LIBRARY_SPEC)
    assert words in str(info.value)


def test_null_list_is_an_error_empty_list_is_empty_and_jsonp_is_unwrapped() -> None:
    # The policy library's real answer to t=zhengcelibrary: listVO null, results elsewhere (docs/upstream.md).
    with pytest.raises(ParseError, match=r"list path 'searchVO.listVO' is null"):
        parse_json_list('{"searchVO": {"listVO": null, "totalCount": 0, "catMap": {}}}', LIBRARY, LIBRARY_SPEC)
    assert parse_json_list('{"searchVO": {"listVO": []}}', LIBRARY, LIBRARY_SPEC) == []
    assert load_json('jQuery1234_5({"a": [1]});', "u") == {"a": [1]}


def test_gbk_bytes_are_decoded() -> None:
    body = json.dumps([{"title": "湖北省文件", "url": "/a"}], ensure_ascii=False).encode("gbk")
    assert parse_json_list(body, "https://www.hubei.gov.cn/", JsonListSpec())[0].title == "湖北省文件"


def test_odd_date_values_are_flagged() -> None:
    items = [{"title": "甲", "url": "/a", "d": True}, {"title": "乙", "url": "/b", "d": 12},
             {"title": "丙", "url": "/c", "d": {"x": 1}}]
    entries = parse_json_list(json.dumps(items), "https://a.gov.cn/", JsonListSpec(date="d"))
    assert all(e.published_at is None and e.date_problem for e in entries)


@pytest.mark.parametrize(("spec", "words"), [
    (JsonListSpec(list_path=CATEGORIES[0], title="TITLE"), "title field 'TITLE' missing or empty in 2"),
    (JsonListSpec(list_path=CATEGORIES[0], url="link"), "url field 'link' missing in 2"),
    (JsonListSpec(list_path=CATEGORIES[0], url="pubtime"), "url field 'pubtime' not an http(s) link in 2"),
])
def test_a_wrong_field_path_is_a_parse_error_naming_the_field(spec: JsonListSpec, words: str) -> None:
    body = (FIXTURES / "gov_search_policy_library.json").read_bytes()
    with pytest.raises(ParseError) as info:
        parse_json_list(body, LIBRARY, spec)
    message = str(info.value)
    assert LIBRARY in message and words in message and "'title'" in message      # the keys actually there


def test_an_empty_list_is_quiet_but_a_list_of_non_objects_is_not() -> None:
    assert parse_json_list('{"searchVO": {"listVO": []}}', LIBRARY, LIBRARY_SPEC) == []
    with pytest.raises(ParseError, match="they are strs, not objects"):
        parse_json_list('{"searchVO": {"listVO": ["a", "b"]}}', LIBRARY, LIBRARY_SPEC)


def test_unreadable_date_text_is_flagged_and_epoch_strings_are_read() -> None:
    items = [{"title": "甲", "url": "/a", "d": "待定"}, {"title": "乙", "url": "/b", "d": "1795572000"},
             {"title": "丙", "url": "/c", "d": "1795572000000"}, {"title": "丁", "url": "/d", "d": "11/25/2026"},
             {"title": "戊", "url": "/e"}]
    entries = parse_json_list(json.dumps(items, ensure_ascii=False), "https://a.gov.cn/", JsonListSpec(date="d"))
    assert entries[0].published_at is None and "'待定'" in (entries[0].date_problem or "")
    assert "field 'd'" in (entries[0].date_problem or "")
    assert entries[1].published_at == entries[2].published_at == datetime(2026, 11, 25, 2, tzinfo=UTC)
    assert entries[3].published_at is None and "year last" in (entries[3].date_problem or "")
    assert entries[4].published_at is None and "no date" in (entries[4].date_problem or "")   # never silent
