"""Deadline rules over real holiday arrangements, plus properties over 2004–2030 and all rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.clock import SHANGHAI
from syndicator.calendar import WorkCalendar
from syndicator.deadlines import (
    DeadlineSettings,
    choose_anchor,
    compute_deadline,
    deadline_for,
    deadline_report,
    is_at_risk,
    lateness,
)
from tests.syndicator.test_calendar import OVERRIDE_2027

CAL = WorkCalendar()
DEFAULT = DeadlineSettings()


def sh(text: str) -> datetime:
    """'YYYY-MM-DD HH:MM' in Shanghai time; '24:00' means the next midnight."""
    day, hm = text.split()
    if hm == "24:00":
        return datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), SHANGHAI)
    return datetime.fromisoformat(f"{day} {hm}").replace(tzinfo=SHANGHAI)


NEXT_DAY_END = [
    # ordinary weeks (Sep 2025)
    ("2025-09-22 10:00", "2025-09-23 24:00", "Mon → Tue"),
    ("2025-09-19 10:00", "2025-09-22 24:00", "Fri → Mon"),
    ("2025-09-20 10:00", "2025-09-22 24:00", "Sat → Mon"),
    ("2025-09-22 00:00", "2025-09-23 24:00", "Mon 00:00 is Monday: the day beginning after is Tue"),
    ("2025-09-21 23:59", "2025-09-22 24:00", "Sun 23:59 → Mon"),
    ("2025-09-22 23:59", "2025-09-23 24:00", "Mon 23:59 → Tue"),
    # 2025 National Day + Mid-Autumn: off 10-01…10-08, make-up Sun 09-28 and Sat 10-11
    ("2025-09-26 18:00", "2025-09-28 24:00", "Fri → make-up Sunday"),
    ("2025-09-27 12:00", "2025-09-28 24:00", "Sat → make-up Sunday"),
    ("2025-09-28 10:00", "2025-09-29 24:00", "make-up Sunday → Mon"),
    ("2025-09-29 10:00", "2025-09-30 24:00", "Mon → Tue before the holiday"),
    ("2025-09-30 10:00", "2025-10-09 24:00", "before the holiday → first working day after"),
    ("2025-09-30 23:59", "2025-10-09 24:00", "last minute before the holiday"),
    ("2025-10-01 00:00", "2025-10-09 24:00", "first minute of the holiday"),
    ("2025-10-05 15:00", "2025-10-09 24:00", "during the holiday"),
    ("2025-10-08 23:59", "2025-10-09 24:00", "last minute of the holiday"),
    ("2025-10-09 00:00", "2025-10-10 24:00", "first working day 00:00 → next day"),
    ("2025-10-10 09:00", "2025-10-11 24:00", "Fri → make-up Saturday"),
    ("2025-10-11 10:00", "2025-10-13 24:00", "make-up Saturday → Mon"),
    # 2026 Spring Festival: make-up Sat 02-14 and Sat 02-28, off 02-15…02-23
    ("2026-02-13 10:00", "2026-02-14 24:00", "Fri → make-up Saturday"),
    ("2026-02-14 10:00", "2026-02-24 24:00", "make-up Saturday → after Spring Festival"),
    ("2026-02-20 10:00", "2026-02-24 24:00", "during Spring Festival"),
    ("2026-02-27 10:00", "2026-02-28 24:00", "Fri → make-up Saturday"),
    ("2026-02-28 10:00", "2026-03-02 24:00", "make-up Saturday → Mon"),
    ("2026-12-30 10:00", "2026-12-31 24:00", "last day of the package's coverage"),
]


@pytest.mark.parametrize(("anchor", "due", "why"), NEXT_DAY_END)
def test_next_working_day_end(anchor: str, due: str, why: str) -> None:
    result = compute_deadline(sh(anchor), DEFAULT, CAL)
    assert result.deadline == sh(due), why
    assert result.deadline.utcoffset() == timedelta(hours=8)
    assert not result.provisional
    assert result.rule == "next_working_day_end"
    assert result.working_days == [(sh(due) - timedelta(minutes=1)).date()]


@pytest.mark.parametrize(
    ("anchor", "due"),
    [
        (datetime(2025, 9, 28, 15, 59, tzinfo=UTC), "2025-09-29 24:00"),  # Sun 23:59 Shanghai (make-up day)
        (datetime(2025, 9, 28, 16, 0, tzinfo=UTC), "2025-09-30 24:00"),   # Mon 00:00 Shanghai
        (datetime(2025, 9, 29, 12, 0, tzinfo=ZoneInfo("America/New_York")), "2025-10-09 24:00"),
    ],
)
def test_any_input_timezone(anchor: datetime, due: str) -> None:
    result = compute_deadline(anchor, DEFAULT, CAL)
    assert result.deadline == sh(due)
    assert result.anchor == anchor and result.anchor.tzinfo == SHANGHAI


@pytest.mark.parametrize(
    ("anchor", "days", "due", "counted"),
    [
        ("2025-09-30 10:00", 1, "2025-10-09 24:00", ["2025-10-09"]),
        ("2025-09-30 10:00", 2, "2025-10-10 24:00", ["2025-10-09", "2025-10-10"]),
        ("2025-09-30 10:00", 3, "2025-10-11 24:00", ["2025-10-09", "2025-10-10", "2025-10-11"]),
        ("2025-09-26 12:00", 5, "2025-10-10 24:00", ["2025-09-28", "2025-09-29", "2025-09-30", "2025-10-09",
                                                      "2025-10-10"]),
    ],
)
def test_working_days(anchor: str, days: int, due: str, counted: list[str]) -> None:
    result = compute_deadline(sh(anchor), DeadlineSettings(rule="working_days", days=days), CAL)
    assert result.deadline == sh(due)
    assert result.working_days == [date.fromisoformat(d) for d in counted]


def test_day_end_is_configurable() -> None:
    result = compute_deadline(sh("2025-09-22 10:00"), DeadlineSettings(day_end="17:30"), CAL)
    assert result.deadline == sh("2025-09-23 17:30")


@pytest.mark.parametrize(
    ("anchor", "days", "due"),
    [
        ("2025-09-22 10:00", 1, "2025-09-23 10:00"),
        ("2025-09-22 07:00", 1, "2025-09-22 17:30"),
        ("2025-09-22 08:30", 1, "2025-09-22 17:30"),
        ("2025-09-22 17:30", 1, "2025-09-23 17:30"),
        ("2025-09-22 23:00", 1, "2025-09-23 17:30"),
        ("2025-09-22 10:00", 2, "2025-09-24 10:00"),
        ("2025-09-26 18:00", 1, "2025-09-28 17:30"),   # make-up Sunday counts
        ("2025-09-30 10:00", 1, "2025-10-09 10:00"),   # holiday skipped
        ("2026-02-13 16:00", 1, "2026-02-14 16:00"),   # 1.5 h Fri + 7.5 h on the make-up Saturday
    ],
)
def test_working_hours(anchor: str, days: int, due: str) -> None:
    result = compute_deadline(sh(anchor), DeadlineSettings(rule="working_hours", days=days), CAL)
    assert result.deadline == sh(due)


def test_settings_timezone_decides_the_day() -> None:
    utc_settings = DeadlineSettings(timezone="UTC")
    # 2025-09-22 02:00 Shanghai is Sunday 18:00 UTC → due Monday 24:00 UTC.
    result = compute_deadline(sh("2025-09-22 02:00"), utc_settings, CAL)
    assert result.deadline == datetime(2025, 9, 23, tzinfo=UTC)
    assert result.deadline.tzinfo == ZoneInfo("UTC")


def test_year_boundary_without_override_is_provisional(tmp_path: Path) -> None:
    cal = WorkCalendar(tmp_path)
    result = compute_deadline(sh("2026-12-31 10:00"), DEFAULT, cal)
    assert result.provisional
    assert result.deadline == sh("2027-01-04 24:00")  # provisional guess: Fri 2027-01-01 is 元旦 (fixed by law)
    assert [int(w[:4]) for w in cal.warnings(date(2026, 12, 31))] == [2027]
    assert not compute_deadline(sh("2026-12-30 10:00"), DEFAULT, cal).provisional


def test_year_boundary_exact_after_override_and_reload(tmp_path: Path) -> None:
    cal = WorkCalendar(tmp_path)
    assert compute_deadline(sh("2026-12-31 10:00"), DEFAULT, cal).provisional
    (tmp_path / "2027.toml").write_text(OVERRIDE_2027, encoding="utf-8")
    cal.reload()
    result = compute_deadline(sh("2026-12-31 10:00"), DEFAULT, cal)
    assert not result.provisional
    assert result.deadline == sh("2027-01-04 24:00")  # 01-01 is a holiday in the fixture
    assert cal.warnings(date(2026, 12, 31)) == []
    spring = compute_deadline(sh("2027-02-05 10:00"), DEFAULT, cal)
    assert spring.deadline == sh("2027-02-13 24:00")  # fixture make-up Saturday


H = timedelta(hours=1)
DETECTED = sh("2025-09-22 12:00")


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (None, (DETECTED, "detected")),
        (DETECTED - H, (DETECTED - H, "published")),
        (DETECTED - 71 * H, (DETECTED - 71 * H, "published")),
        (DETECTED - 73 * H, (DETECTED - 73 * H, "published")),   # old is believed: late detection, not hidden
        (DETECTED - 400 * H, (DETECTED - 400 * H, "published")),
        (DETECTED + timedelta(minutes=5), (DETECTED + timedelta(minutes=5), "published")),
        (DETECTED + timedelta(minutes=11), (DETECTED, "implausible")),
        (datetime(2025, 9, 22, 1, 0, tzinfo=UTC), (datetime(2025, 9, 22, 1, 0, tzinfo=UTC), "published")),
    ],
)
def test_choose_anchor(published: datetime | None, expected: tuple[datetime, str]) -> None:
    assert choose_anchor(published, DETECTED, DEFAULT) == expected


def test_choose_anchor_cases_with_tracking_start() -> None:
    start = DETECTED - 10 * H
    assert choose_anchor(DETECTED - 11 * H, DETECTED, DEFAULT, start) == (DETECTED - 11 * H, "baseline")
    assert choose_anchor(start, DETECTED, DEFAULT, start) == (start, "published")
    assert choose_anchor(None, DETECTED, DEFAULT, start, "unreadable") == (DETECTED, "implausible")
    assert choose_anchor(None, DETECTED, DEFAULT, start) == (DETECTED, "detected")


def test_naive_times_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        choose_anchor(datetime(2025, 9, 22, 10), DETECTED, DEFAULT)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadline(datetime(2025, 9, 22, 10), DEFAULT, CAL)


def test_deadline_for_combines_anchor_and_rule() -> None:
    result, kind = deadline_for(sh("2025-09-30 09:00"), sh("2025-09-30 09:20"), DEFAULT, CAL)
    assert kind == "published" and result.deadline == sh("2025-10-09 24:00")


@pytest.mark.parametrize(
    ("deadline", "at", "clock_h", "work_h"),
    [
        ("2025-09-23 24:00", "2025-09-23 20:00", 0.0, 0.0),
        ("2025-09-23 24:00", "2025-09-23 24:00", 0.0, 0.0),
        ("2025-09-23 24:00", "2025-09-24 09:00", 9.0, 0.5),
        ("2025-09-23 24:00", "2025-09-24 18:00", 18.0, 9.0),
        ("2025-09-30 24:00", "2025-10-01 10:00", 10.0, 0.0),        # holiday office hours do not count
        ("2025-09-30 24:00", "2025-10-09 09:30", 201.5, 1.0),
        ("2025-10-10 24:00", "2025-10-11 12:30", 12.5, 4.0),        # make-up Saturday counts
        ("2025-10-10 17:30", "2025-10-10 18:00", 0.5, 0.0),
    ],
)
def test_lateness(deadline: str, at: str, clock_h: float, work_h: float) -> None:
    assert lateness(sh(deadline), sh(at), DEFAULT, CAL) == pytest.approx((clock_h, work_h))


def test_at_risk() -> None:
    due = sh("2025-09-23 24:00")
    assert is_at_risk(due, due - 3 * H, DEFAULT)
    assert not is_at_risk(due, due - 5 * H, DEFAULT)
    assert not is_at_risk(due, due, DEFAULT)


@pytest.mark.parametrize(
    ("text", "anchor"),
    [
        ("2025-09-30 10:00", "2025-09-30T10:00:00+08:00"),
        ("2025-09-30T10:00:00", "2025-09-30T10:00:00+08:00"),
        ("2025-09-30T02:00:00Z", "2025-09-30T10:00:00+08:00"),
        (" 2025-09-29T22:00:00-04:00 ", "2025-09-30T10:00:00+08:00"),
    ],
)
def test_deadline_report(text: str, anchor: str) -> None:
    assert deadline_report(text, DEFAULT, CAL) == {
        "anchor": anchor,
        "deadline": "2025-10-10T00:00:00+08:00",
        "provisional": False,
        "rule": "next_working_day_end",
        "working_days": ["2025-10-09"],
    }


@pytest.mark.parametrize("text", ["9999-12-31 10:00", "9999-12-30 10:00", "9999-12-31T23:00:00-05:00"])
@pytest.mark.parametrize("rule", ["next_working_day_end", "working_days", "working_hours"])
def test_a_deadline_beyond_year_9999_is_a_clear_error(text: str, rule: str) -> None:
    if rule == "working_hours" and text == "9999-12-30 10:00":
        assert deadline_report(text, DEFAULT, CAL, rule=rule)["deadline"] == "9999-12-31T10:00:00+08:00"
        return
    with pytest.raises(ValueError, match="超出可计算范围"):
        deadline_report(text, DEFAULT, CAL, rule=rule)


def test_deadline_report_rule_override() -> None:
    report = deadline_report("2025-09-30 10:00", DEFAULT, CAL, rule="working_days", days=2)
    assert report["deadline"] == "2025-10-11T00:00:00+08:00"
    assert report["working_days"] == ["2025-10-09", "2025-10-10"]
    with pytest.raises(ValueError):
        deadline_report("2025-09-30 10:00", DEFAULT, CAL, rule="tomorrow")


@pytest.mark.parametrize("text", ["", "tomorrow", "2025-13-01 10:00", "30/09/2025 10:00", "2025-09-30 25:00"])
def test_deadline_report_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="无法解析时间"):
        deadline_report(text, DEFAULT, CAL)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"day_end": "25:00"}, {"day_end": "24:01"}, {"day_end": "7:30"}, {"day_end": "00:00"},
        {"office_start": "17:30", "office_end": "08:30"}, {"office_end": "08:30"},
        {"timezone": "Mars/Olympus"}, {"days": 0}, {"rule": "calendar_days"}, {"deadline": "24:00"},
        {"at_risk_hours": -1},
    ],
)
def test_settings_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DeadlineSettings(**kwargs)


# ---- properties over 2004–2030 (package years and fallback years) and all three rules ----

ZONES = [UTC, SHANGHAI, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]
anchors = st.datetimes(datetime(2004, 1, 1), datetime(2030, 12, 20), timezones=st.sampled_from(ZONES))
setting_sets = st.builds(
    DeadlineSettings,
    rule=st.sampled_from(["next_working_day_end", "working_days", "working_hours"]),
    days=st.integers(1, 4),
    day_end=st.sampled_from(["24:00", "23:59", "17:30", "12:00"]),
    office_start=st.sampled_from(["00:00", "08:30", "09:00"]),
    office_end=st.sampled_from(["12:00", "17:30", "24:00"]),
)


def _minutes_of_day(dt: datetime) -> float:
    """Minutes since local midnight, exact to the microsecond; 0 only at midnight itself."""
    return dt.hour * 60 + dt.minute + (dt.second * 1_000_000 + dt.microsecond) / 60_000_000


@settings(max_examples=300, deadline=None)
@given(anchor=anchors, s=setting_sets)
def test_deadline_after_anchor_and_at_end_of_a_working_day(anchor: datetime, s: DeadlineSettings) -> None:
    result = compute_deadline(anchor, s, CAL)
    assert result.deadline > anchor
    assert result.deadline.tzinfo == s.tz
    assert all(CAL.is_workday(d) for d in result.working_days)
    local_anchor_day = anchor.astimezone(s.tz).date()
    if s.rule == "working_hours":
        end = result.deadline
        day = end.date() if _minutes_of_day(end) else end.date() - timedelta(days=1)  # 24:00 office end
        assert CAL.is_workday(day) and day == result.working_days[-1]
        minute = _minutes_of_day(end) or 1440
        h1, m1 = map(int, s.office_start.split(":"))
        h2, m2 = map(int, s.office_end.split(":"))
        assert h1 * 60 + m1 < minute <= h2 * 60 + m2
    else:
        n = 1 if s.rule == "next_working_day_end" else s.days
        assert len(result.working_days) == n
        last = result.working_days[-1]
        span = [local_anchor_day + timedelta(days=i) for i in range(1, (last - local_anchor_day).days + 1)]
        assert [d for d in span if CAL.is_workday(d)] == result.working_days  # none skipped
        assert result.provisional == any(CAL.coverage(d.year) == "fallback" for d in span)
        h, m = map(int, s.day_end.split(":"))
        assert result.deadline == datetime.combine(last, datetime.min.time(), s.tz) + timedelta(hours=h, minutes=m)


@settings(max_examples=300, deadline=None)
@given(anchor=anchors, shift=st.timedeltas(timedelta(0), timedelta(days=12)), s=setting_sets)
def test_deadline_never_moves_earlier(anchor: datetime, shift: timedelta, s: DeadlineSettings) -> None:
    assert compute_deadline(anchor + shift, s, CAL).deadline >= compute_deadline(anchor, s, CAL).deadline


@settings(max_examples=150, deadline=None)
@given(anchor=anchors, s=setting_sets)
def test_one_working_day_equals_default(anchor: datetime, s: DeadlineSettings) -> None:
    one = s.model_copy(update={"rule": "working_days", "days": 1})
    default = s.model_copy(update={"rule": "next_working_day_end"})
    assert compute_deadline(anchor, one, CAL).deadline == compute_deadline(anchor, default, CAL).deadline


@settings(max_examples=150, deadline=None)
@given(anchor=anchors, late=st.timedeltas(timedelta(0), timedelta(days=20)))
def test_lateness_bounds(anchor: datetime, late: timedelta) -> None:
    due = compute_deadline(anchor, DEFAULT, CAL).deadline
    clock_h, work_h = lateness(due, due + late, DEFAULT, CAL)
    assert clock_h == pytest.approx(late.total_seconds() / 3600)
    assert 0 <= work_h <= clock_h + 1e-9
