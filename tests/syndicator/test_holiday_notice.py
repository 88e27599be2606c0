"""The State Council holiday notice: the published 2025 and 2026 texts parse into overrides that agree
with chinese-calendar on every day of those years; a notice that does not add up is flagged; the
provisional guess for uncovered years counts the statutory holidays fixed by law."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from lunar_python import Lunar

from syndicator.calendar import WorkCalendar
from syndicator.calendar_notices import render_draft
from syndicator.holiday_notice import ParsedNotice, parse_notice
from syndicator.statutory_holidays import statutory_holidays
from tests.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR / "holiday_notices"


def fixture(name: str) -> tuple[str, str]:
    """(title, body) of a fixture file; lines starting with # are its provenance, not the notice."""
    lines = [ln for ln in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return lines[0], "\n".join(lines[1:])


def parsed(name: str, edit: tuple[str, str] | None = None) -> ParsedNotice:
    title, body = fixture(name)
    if edit is not None:
        assert edit[0] in body
        body = body.replace(*edit)
    return parse_notice(title, body)


@pytest.mark.parametrize("year", [2025, 2026])
def test_published_notice_agrees_with_chinese_calendar_every_day(tmp_path: Path, year: int) -> None:
    notice = parsed(f"{year}.txt")
    assert notice.valid, notice.problems
    (tmp_path / f"{year}.toml").write_text(render_draft(notice, "https://www.gov.cn/x.htm", notice.signed_on), "utf-8")
    cal = WorkCalendar(tmp_path)
    assert cal.coverage(year) == "override"
    d, days = date(year, 1, 1), 0
    while d.year == year:
        assert cal.is_workday(d) == chinese_calendar.is_workday(d), d
        d, days = d + timedelta(1), days + 1
    assert days == 365


def test_2025_lines_read_as_published() -> None:
    notice = parsed("2025.txt")
    by_name = {h.name: h for h in notice.holidays}
    spring = by_name["春节"]           # a range across months, two make-up days
    assert (spring.start, spring.end, spring.declared_days) == (date(2025, 1, 28), date(2025, 2, 4), 8)
    assert spring.workdays == [date(2025, 1, 26), date(2025, 2, 8)]
    both = by_name["国庆节、中秋节"]    # one line for two holidays
    assert both.names == ("国庆节", "中秋节") and both.end == date(2025, 10, 8)
    assert by_name["元旦"].days() == [date(2025, 1, 1)] and by_name["元旦"].declared_days == 1
    assert notice.signed_on == date(2024, 11, 12)


def test_draft_carries_url_and_publication_date() -> None:
    notice = parsed("2026.txt")
    draft = render_draft(notice, "https://www.gov.cn/zhengce/content/202511/content_7047090.htm", date(2025, 11, 4))
    assert 'url = "https://www.gov.cn/zhengce/content/202511/content_7047090.htm"' in draft
    assert 'published = "2025-11-04"' in draft and 'notice = "国务院办公厅关于2026年部分节假日安排的通知"' in draft
    assert '"2026-02-28",  # 周六，春节调休' in draft


def test_older_forms_weekend_bridge_and_compensatory_day() -> None:
    """Older notices: "X月X日放假，与周末连休" and a "补休" day (e.g. 2017's 元旦)."""
    body = ("现将2017年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。\n"
            "一、元旦：1月1日放假，1月2日（星期一）补休。\n"
            "二、春节：1月27日至2月2日放假调休，共7天。1月22日（星期日）、2月4日（星期六）上班。\n"
            "三、清明节：4月2日至4日放假调休，共3天。4月1日（星期六）上班。\n"
            "四、劳动节：5月1日放假，与周末连休。\n"
            "五、端午节：5月28日至30日放假调休，共3天。5月27日（星期六）上班。\n"
            "六、中秋节、国庆节：10月1日至8日放假调休，共8天。9月30日（星期六）上班。\n")
    notice = parse_notice("国务院办公厅关于2017年部分节假日安排的通知", body)
    assert notice.valid, notice.problems
    by_name = {h.name: h for h in notice.holidays}
    assert by_name["元旦"].extra_days_off == [date(2017, 1, 2)]
    labour = by_name["劳动节"]
    assert (labour.start, labour.end) == (date(2017, 4, 29), date(2017, 5, 1))   # Mon with the weekend before
    off = {d for h in notice.holidays for d in h.days() + h.extra_days_off}
    workdays = {d for h in notice.holidays for d in h.workdays}
    d = date(2017, 1, 1)
    while d.year == 2017:      # chinese-calendar has 2017: the older forms read right too
        assert (d in workdays or (d not in off and d.weekday() < 5)) == chinese_calendar.is_workday(d), d
        d += timedelta(1)


@pytest.mark.parametrize(("edit", "problem"), [
    (("1月4日（周日）上班", "1月4日（周一）上班"), "1月4日 标注为周一，实际是周日"),
    (("　　六、中秋节：9月25日（周五）至27日（周日）放假，共3天。\n", ""), "缺少法定节假日：中秋节"),
    (("至23日（农历正月初七、周一）放假调休，共9天", "至23日（农历正月初七、周一）放假调休，共8天"),
     "春节：写明共8天，但 2026-02-15 至 2026-02-23 是 9 天"),
    (("5月9日（周六）上班", "5月11日（周一）上班"), "调休上班日 2026-05-11 是周一，不是周末"),
    (("现将2026年元旦", "现将2027年元旦"), "正文称“2027年”的安排，与标题的 2026 年不符"),
])
def test_a_notice_that_does_not_add_up_is_flagged(edit: tuple[str, str], problem: str) -> None:
    notice = parsed("2026.txt", edit)
    assert not notice.valid
    assert any(problem in p for p in notice.problems), notice.problems


def test_not_the_notice() -> None:
    notice = parse_notice("国务院办公厅关于做好2027年元旦春节期间有关工作的通知", "一、元旦：1月1日放假。")
    assert notice.year is None and not notice.valid


# Dates of 2027–2030 from published almanacs (农历新年, 清明, 端午, 中秋), to check the library against.
KNOWN = {   # 春节 (初一), 清明, 端午, 中秋
    2027: (date(2027, 2, 6), date(2027, 4, 5), date(2027, 6, 9), date(2027, 9, 15)),
    2028: (date(2028, 1, 26), date(2028, 4, 4), date(2028, 5, 28), date(2028, 10, 3)),
    2029: (date(2029, 2, 13), date(2029, 4, 4), date(2029, 6, 16), date(2029, 9, 22)),
    2030: (date(2030, 2, 3), date(2030, 4, 5), date(2030, 6, 5), date(2030, 9, 12)),
}


@pytest.mark.parametrize("year", sorted(KNOWN))
def test_uncovered_years_count_the_statutory_holidays(year: int) -> None:
    spring, qingming, duanwu, zhongqiu = KNOWN[year]
    first = Lunar.fromYmd(year, 1, 1).getSolar()
    assert date(first.getYear(), first.getMonth(), first.getDay()) == spring
    expected = {date(year, 1, 1), date(year, 5, 1), date(year, 5, 2), date(year, 10, 1), date(year, 10, 2),
                date(year, 10, 3), qingming, duanwu, zhongqiu,
                *(spring + timedelta(n) for n in range(-1, 3))}      # 除夕 to 初三
    assert set(statutory_holidays(year)) == expected
    cal = WorkCalendar()
    assert cal.coverage(year) == "fallback"
    for d in expected:
        assert not cal.is_workday(d) and cal.is_provisional(d)
    assert cal.is_workday(date(year, 3, 1)) == (date(year, 3, 1).weekday() < 5)   # make-up days stay unknown


def test_statutory_days_match_chinese_calendar_where_it_has_them() -> None:
    for year in (2025, 2026):
        for d, name in statutory_holidays(year).items():
            assert not chinese_calendar.is_workday(d), (d, name)
