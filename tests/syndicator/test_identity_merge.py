"""Which upstream entries are one document: strong keys (URL, guid, 文号) merge across sources; a content hash
merges only under equal titles and a substantive body, so distinct documents sharing a stub body stay distinct.
Every merge is recorded on the item with both sources. Runs on SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.clock import FakeClock
from feeds.identity import document_number, find_document_number, guid_key, is_substantive, normalise_title
from feeds.model import Entry
from feeds.specs import RuleSpec
from syndicator.calendar import WorkCalendar
from syndicator.config import Settings
from syndicator.intake import Intake
from syndicator.store import Store
from tests.syndicator.test_delays import sh
from tests.syndicator.test_intake import settings

BODY = ("<p>各省、自治区、直辖市人民政府，国务院各部委、各直属机构：</p><p>为进一步优化营商环境、激发市场活力，"
        "经国务院同意，现就有关事项通知如下。一、总体要求……二、重点任务……三、保障措施……请结合实际认真贯彻落实。</p>")


@pytest.fixture
def rig(store: Store, tmp_path: Path) -> tuple[Intake, Settings]:
    s = settings(tmp_path)
    return Intake(s, store, WorkCalendar(), FakeClock(sh("2026-11-25 10:00"))), s


async def accept(intake: Intake, s: Settings, source: int, entry: Entry) -> tuple[str, int, str | None]:
    result = await intake.accept(s.sources[source], entry, RuleSpec())
    return result.status, result.item_id, result.matched_by


STUBS = ["详见附件。", "<p>请点击查看附件</p>", "<p>详见附件。</p><p>附件：1.实施细则.pdf</p>"]


@pytest.mark.parametrize("stub", STUBS)
@pytest.mark.parametrize("sources", [(0, 0, 0), (0, 1, 1)], ids=["one-source", "two-sources"])
async def test_three_documents_with_one_stub_body_are_three_items(rig, stub: str, sources: tuple[int, ...]) -> None:
    intake, s = rig
    ids = set()
    for n, source in enumerate(sources):
        entry = Entry(url=f"https://www.gov.cn/zhengce/content/2026/content_{n}.htm", guid=f"content-{n}",
                      title=f"国务院办公厅关于第{n}项工作的通知", content=stub)
        status, item_id, _ = await accept(intake, s, source, entry)
        assert status == "created"
        ids.add(item_id)
    assert len(ids) == 3
    assert await intake.store.merges() == [] and await intake.store.merge_count() == 0


async def test_one_document_from_two_sources_is_one_item_with_both_sources_recorded(rig) -> None:
    intake, s = rig
    first = Entry(url="https://www.gov.cn/zhengce/content/202611/content_7001.htm",
                  title="国务院关于优化营商环境的通知", content=BODY)
    copy = Entry(url="https://www.hubei.gov.cn/zwgk/zcwj/202611/t20261125_1.shtml",
                 title="国务院关于优化营商环境的通知 ", content=f"<div>{BODY}</div>")   # another site's layout
    created, item_id, _ = await accept(intake, s, 0, first)
    duplicate, same_id, matched_by = await accept(intake, s, 1, copy)
    assert (created, duplicate, same_id, matched_by) == ("created", "duplicate", item_id, "content")
    (merge,) = await intake.store.merges()
    assert merge["item_id"] == item_id and merge["first_source"] == "gwy" and merge["merged_source"] == "province"
    assert merge["merged_url"] == copy.url and merge["first_url"] == first.url and merge["matched_by"] == "content"
    assert len(await intake.store.deliveries(item_id=item_id)) == 1     # reprinted once


async def test_same_body_under_different_titles_is_not_merged(rig) -> None:
    intake, s = rig
    await accept(intake, s, 0, Entry(url="https://www.gov.cn/a.htm", title="关于甲的通知", content=BODY))
    status, _, _ = await accept(intake, s, 1, Entry(url="https://www.hubei.gov.cn/b.htm", title="关于乙的通知",
                                                     content=BODY))
    assert status == "created"


async def test_document_number_merges_across_sources_whatever_the_titles(rig) -> None:
    intake, s = rig
    policy = Entry(url="https://www.gov.cn/zhengce/content/202611/content_9.htm", title="国务院办公厅关于X的通知",
                   content="<p>国办发〔2026〕12号</p><p>各省、自治区、直辖市人民政府：现将有关事项通知如下。</p>")
    listed = Entry(url="https://sousuo.www.gov.cn/x?id=9", title="关于X的通知", extra={"pcode": "国办发[2026]012号"})
    reading = Entry(url="https://www.gov.cn/zhengce/jiedu/202611/content_10.htm", title="《关于X的通知》解读",
                    content="<p>近日，国务院办公厅印发《关于X的通知》（国办发〔2026〕12号），现解读如下。</p>")
    _, item_id, _ = await accept(intake, s, 0, policy)
    assert await accept(intake, s, 1, listed) == ("duplicate", item_id, "doc")
    status, other, _ = await accept(intake, s, 1, reading)     # cites the number inside a sentence: its own item
    assert status == "created" and other != item_id


async def test_a_globally_unique_guid_merges_across_sources(rig) -> None:
    intake, s = rig
    guid = "urn:uuid:6f1c2d3e-0000-4000-8000-123456789abc"
    _, item_id, _ = await accept(intake, s, 0, Entry(url="https://www.gov.cn/a.htm", guid=guid, title="甲"))
    assert await accept(intake, s, 1, Entry(url="https://mirror.gov.cn/a.htm", guid=guid, title="甲（转）")) == \
        ("duplicate", item_id, "guid")
    status, _, _ = await accept(intake, s, 1, Entry(url="https://www.hubei.gov.cn/1.htm", guid="1", title="乙"))
    status2, _, _ = await accept(intake, s, 0, Entry(url="https://www.gov.cn/1.htm", guid="1", title="丙"))
    assert (status, status2) == ("created", "created")        # per-site counters are no identity


def test_identity_helpers() -> None:
    assert document_number("鄂政办发［2025］003号") == "鄂政办发〔2025〕3号"
    assert document_number("国办发〔2025〕12号的解读") == ""
    assert find_document_number({}, "标题\n国发〔2024〕7号\n正文") == "国发〔2024〕7号"
    assert find_document_number({}, "依据国发〔2024〕7号文件") == ""
    assert not is_substantive("详见附件。", 5) and not is_substantive("短", 80)
    assert is_substantive("正" * 80, 80)
    assert normalise_title("国务院 关于X的通知。") == normalise_title("国务院关于Ｘ的通知")
    assert guid_key("https://www.gov.cn/a.htm", "http://www.gov.cn/a.htm#x") == ""      # the URL already keys it
    assert guid_key("1024", "https://a") == ""
    assert guid_key("tag:gov.cn,2026:1", "https://a") == "guid:tag:gov.cn,2026:1"
