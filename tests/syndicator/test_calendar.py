"""WorkCalendar: real arrangements, override files, fallback and the warnings operators see."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import pytest

from syndicator.calendar import CalendarOverrideError, WorkCalendar, load_override
from tests.paths import ROOT_DIR

OVERRIDE_2027 = """\
# Test fixture only: these dates are NOT the official 2027 arrangement.
year = 2027
notice = "测试用通知"
holidays = [
  "2027-01-01",
  { from = "2027-02-06", to = "2027-02-12", name = "春节" },
  2027-10-01,
]
workdays = ["2027-02-13", 2027-02-14]
"""


def write(dir_: Path, name: str, text: str) -> Path:
    path = dir_ / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        # 2025 National Day + Mid-Autumn: 10-01…10-08 off, make-up Sun 09-28 and Sat 10-11.
        ("2025-09-27", False),
        ("2025-09-28", True),
        ("2025-09-30", True),
        ("2025-10-01", False),
        ("2025-10-06", False),
        ("2025-10-08", False),
        ("2025-10-09", True),
        ("2025-10-11", True),
        ("2025-10-12", False),
        # 2026 Spring Festival: make-up Sat 02-14 and Sat 02-28.
        ("2026-02-13", True),
        ("2026-02-14", True),
        ("2026-02-15", False),
        ("2026-02-23", False),
        ("2026-02-24", True),
        ("2026-02-28", True),
        ("2026-03-01", False),
        # 2027 without an override: weekends and the statutory holidays fixed by law.
        ("2027-01-01", False),
        ("2027-01-02", False),
        ("2027-01-04", True),
    ],
)
def test_real_arrangements(cal: WorkCalendar, day: str, workday: bool) -> None:
    assert cal.is_workday(date.fromisoformat(day)) is workday


@pytest.mark.parametrize(
    ("year", "source"),
    [(1, "fallback"), (2003, "fallback"), (2004, "package"), (2026, "package"), (2027, "fallback"), (9999, "fallback")],
)
def test_coverage_and_never_crash(year: int, source: str) -> None:
    cal = WorkCalendar()
    assert cal.coverage(year) == source
    for d in (date(year, 1, 1), date(year, 12, 31)):
        assert isinstance(cal.is_workday(d), bool)
        assert cal.is_provisional(d) is (source == "fallback")


def test_override_file_supplies_the_year(tmp_path: Path) -> None:
    write(tmp_path, "2027.toml", OVERRIDE_2027)
    write(tmp_path, "README.md", "not a calendar")
    cal = WorkCalendar(tmp_path)
    assert cal.coverage(2027) == "override"
    assert cal.coverage(2026) == "package"
    assert cal.notice(2027) == "测试用通知"
    assert not cal.is_provisional(date(2027, 1, 1))
    assert not cal.is_workday(date(2027, 1, 1))            # listed holiday
    assert not cal.is_workday(date(2027, 2, 8))            # inside a range
    assert not cal.is_workday(date(2027, 10, 1))           # TOML native date
    assert cal.is_workday(date(2027, 2, 13))               # make-up Saturday
    assert cal.is_workday(date(2027, 2, 14))               # make-up Sunday
    assert cal.is_workday(date(2027, 3, 1))                # ordinary Monday
    assert not cal.is_workday(date(2027, 3, 6))            # ordinary Saturday
    assert cal.warnings(date(2026, 12, 15)) == []


def test_override_takes_precedence_over_package_for_whole_year(tmp_path: Path) -> None:
    write(tmp_path, "2026.toml", 'year = 2026\nnotice = "测试"\nholidays = ["2026-03-02"]\n')
    cal = WorkCalendar(tmp_path)
    assert cal.coverage(2026) == "override"
    assert not cal.is_workday(date(2026, 3, 2))
    assert not cal.is_workday(date(2026, 2, 14))  # package's make-up day is not merged in
    assert cal.coverage(2025) == "package"


def test_reload_picks_up_new_file_and_keeps_state_on_error(tmp_path: Path) -> None:
    cal = WorkCalendar(tmp_path)
    assert cal.coverage(2027) == "fallback"
    write(tmp_path, "2027.toml", OVERRIDE_2027)
    cal.reload()
    assert cal.coverage(2027) == "override"
    write(tmp_path, "2028.toml", 'year = 2028\nnotice = ""\n')
    with pytest.raises(CalendarOverrideError, match=r"2028\.toml"):
        cal.reload()
    assert cal.coverage(2027) == "override"


def test_missing_override_dir_is_not_an_error(tmp_path: Path) -> None:
    assert WorkCalendar(tmp_path / "absent").coverage(2027) == "fallback"


BAD_FILES = [
    ('year = 2027\nnotice = "n"\nholidays = ["2026-12-31"]\n', "holidays[0]"),
    ('year = 2027\nnotice = "n"\nholidays = [{ from = "2027-12-30", to = "2028-01-02" }]\n', "holidays[0].to"),
    ('year = 2027\nnotice = "n"\nholidays = [{ from = "2027-02-10", to = "2027-02-01" }]\n', "holidays[0]"),
    ('year = 2027\nnotice = "n"\nholidays = [{ from = "2027-02-10" }]\n', "holidays[0].to"),
    ('year = 2027\nnotice = "n"\nholidays = [{ from = "2027-02-10", to = "2027-02-11", x = 1 }]\n', "holidays[0].x"),
    ('year = 2027\nnotice = "n"\nholidays = ["2027-1-1"]\n', "holidays[0]"),
    ('year = 2027\nnotice = "n"\nholidays = [20270101]\n', "holidays[0]"),
    ('year = 2027\nnotice = "n"\nholidays = [2027-01-01T00:00:00]\n', "holidays[0]"),
    ('year = 2027\nnotice = "n"\nworkdays = ["2027-02-31"]\n', "workdays[0]"),
    ('year = 2027\nnotice = "n"\nworkdays = ["2028-02-05"]\n', "workdays[0]"),
    ('year = 2027\nnotice = "n"\nworkdays = ["2027-02-08"]\n', "workdays[0]"),  # a Monday
    ('year = 2027\nnotice = "n"\nholidays = [{ from = "2027-02-06", to = "2027-02-14" }]\n'
     'workdays = ["2027-02-13"]\n', "workdays[0]"),
    ('year = 2027\nholidays = []\n', "notice"),
    ('year = 2027\nnotice = "n"\nextra = 1\n', "extra"),
    ('year = 2028\nnotice = "n"\n', "year"),
    ('year = "2027"x\n', "TOML"),
]


@pytest.mark.parametrize(("text", "field"), BAD_FILES)
def test_override_errors_name_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, "2027.toml", text)
    with pytest.raises(CalendarOverrideError) as info:
        load_override(path)
    assert str(path) in str(info.value)
    assert field in str(info.value)
    with pytest.raises(CalendarOverrideError):
        WorkCalendar(tmp_path)


def test_override_file_must_be_named_by_year(tmp_path: Path) -> None:
    path = write(tmp_path, "holidays.toml", 'year = 2027\nnotice = "n"\n')
    with pytest.raises(CalendarOverrideError, match=r"holidays\.toml"):
        load_override(path)


def test_warnings_for_years_in_use(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkCalendar()
    assert cal.warnings(date(2026, 6, 1)) == []
    with caplog.at_level(logging.WARNING, logger="syndicator.calendar"):
        cal.is_workday(date(2030, 5, 1))
        cal.is_workday(date(2030, 5, 2))
    assert sum("2030" in r.getMessage() for r in caplog.records) == 1
    assert cal.warnings(date(2026, 6, 1)) == [
        "2030年节假日安排尚未载入：截止时间按周末和法定节假日临时计算（调休未知）。国务院办公厅发布2030年"
        "节假日安排通知后，本系统会自动识别并生成草案，请管理员核对后在看板点“确认”；也可由系统管理员按部署说明"
        "在节假日日历目录中补充2030年安排"
    ]                                          # in words: an operator is never shown a server file path


@pytest.mark.parametrize(
    ("today", "expected_years"),
    [
        (date(2026, 11, 30), []),
        (date(2026, 12, 1), [2027]),
        (date(2026, 12, 31), [2027]),
        (date(2025, 12, 1), []),          # 2026 is in the package
        (date(2027, 3, 1), [2027]),       # the current year itself is uncovered
    ],
)
def test_december_warning(tmp_path: Path, today: date, expected_years: list[int]) -> None:
    cal = WorkCalendar(tmp_path)
    got = cal.warnings(today)
    assert [int(w[:4]) for w in got] == expected_years
    for w in got:
        assert f"补充{w[:4]}年安排" in w and ".toml" not in w and str(tmp_path) not in w
    write(tmp_path, "2027.toml", OVERRIDE_2027)
    cal.reload()
    assert cal.warnings(today) == []


def test_readme_example_is_valid_and_matches_package(tmp_path: Path) -> None:
    readme = ROOT_DIR / "config" / "calendar" / "README.md"
    example = readme.read_text(encoding="utf-8").split("```toml\n", 1)[1].split("```", 1)[0]
    write(tmp_path, "2026.toml", example)
    with_override, package = WorkCalendar(tmp_path), WorkCalendar()
    assert with_override.coverage(2026) == "override"
    d = date(2026, 1, 1)
    while d.year == 2026:
        assert with_override.is_workday(d) == package.is_workday(d), d
        d += timedelta(days=1)
