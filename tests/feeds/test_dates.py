"""feeds.dates: every format upstream sites use, and flags instead of guesses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.dates import SHANGHAI, parse_cn_datetime, parse_or_flag

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-25", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("2026年11月25日", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("2026.11.25", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("2026/11/25", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("2026-1-5", datetime(2026, 1, 5, tzinfo=SHANGHAI)),
    ("2026-11-25 10:30", datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)),
    ("2026-11-25 10:30:05", datetime(2026, 11, 25, 10, 30, 5, tzinfo=SHANGHAI)),
    ("2026年11月25日 10:30", datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)),
    ("2026年11月25日10时30分", datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)),
    ("2026-11-25-10:30:05", datetime(2026, 11, 25, 10, 30, 5, tzinfo=SHANGHAI)),    # gov.cn meta
    ("2026-11-25 10:30:05.0", datetime(2026, 11, 25, 10, 30, 5, tzinfo=SHANGHAI)),  # Java Timestamp
    ("2026-11-25T10:30:05+08:00", datetime(2026, 11, 25, 10, 30, 5, tzinfo=CST)),
    ("2026-11-25T02:30:05Z", datetime(2026, 11, 25, 2, 30, 5, tzinfo=UTC)),
    ("2026-11-25T02:30:05.123456-0500", datetime(2026, 11, 25, 7, 30, 5, 123456, tzinfo=UTC)),
    ("Wed, 25 Nov 2026 10:30:05 +0800", datetime(2026, 11, 25, 2, 30, 5, tzinfo=UTC)),
    ("Wed, 25 Nov 2026 02:30:05 GMT", datetime(2026, 11, 25, 2, 30, 5, tzinfo=UTC)),
    ("25 Nov 2026 10:30 +0800", datetime(2026, 11, 25, 2, 30, tzinfo=UTC)),
    ("Wed Nov 25 10:30:05 CST 2026", datetime(2026, 11, 25, 2, 30, 5, tzinfo=UTC)),   # CST = China here
    ("二〇二六年十一月二十五日", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("二○二六年十月一日", datetime(2026, 10, 1, tzinfo=SHANGHAI)),
    ("20261125", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("[2026-11-25]", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("发布时间：2026-11-25　来源：中国政府网", datetime(2026, 11, 25, tzinfo=SHANGHAI)),
    ("２０２６－１１－２５　１０：３０", datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)),   # full-width
    ("成文日期：2026年11月20日 发布日期：2026年11月25日", datetime(2026, 11, 20, tzinfo=SHANGHAI)),
    # 12-hour clocks, Chinese periods, hour-only Chinese times, zone words after a numeric date
    ("2026-11-25 10:30 PM", datetime(2026, 11, 25, 22, 30, tzinfo=SHANGHAI)),
    ("2026-11-25 10:30 a.m.", datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)),
    ("2026-11-25 12:05 AM", datetime(2026, 11, 25, 0, 5, tzinfo=SHANGHAI)),
    ("2026-11-25 12:05 PM", datetime(2026, 11, 25, 12, 5, tzinfo=SHANGHAI)),
    ("2026-11-25 下午3:30", datetime(2026, 11, 25, 15, 30, tzinfo=SHANGHAI)),
    ("2026年11月25日下午3时30分", datetime(2026, 11, 25, 15, 30, tzinfo=SHANGHAI)),
    ("2026年11月25日 上午9点", datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)),
    ("2026年11月25日 晚上8点30分", datetime(2026, 11, 25, 20, 30, tzinfo=SHANGHAI)),
    ("2026-11-25 下午15:30", datetime(2026, 11, 25, 15, 30, tzinfo=SHANGHAI)),   # says it twice: fine
    ("2026-11-25 凌晨12:10", datetime(2026, 11, 25, 0, 10, tzinfo=SHANGHAI)),
    ("2026年11月25日15时", datetime(2026, 11, 25, 15, 0, tzinfo=SHANGHAI)),
    ("2026-11-25 10:30:05 GMT", datetime(2026, 11, 25, 10, 30, 5, tzinfo=UTC)),
    ("2026-11-25 10:30:05 CST", datetime(2026, 11, 25, 2, 30, 5, tzinfo=UTC)),        # China, not US Central
    ("Wed, 25 Nov 2026 10:30:00", datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)),  # RSS date without zone
    ("2026-11-25 10:30 浏览次数：3", datetime(2026, 11, 25, 10, 30, tzinfo=SHANGHAI)),
])
def test_formats(text: str, expected: datetime) -> None:
    parsed, problem = parse_or_flag(text)
    assert problem is None
    assert parsed == expected
    assert parsed is not None and parsed.tzinfo is not None


def test_naive_times_are_beijing_time() -> None:
    parsed = parse_cn_datetime("2026-11-25 08:00")
    assert parsed is not None and parsed.astimezone(UTC) == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def test_tz_parameter_applies_to_naive_times_only() -> None:
    assert parse_cn_datetime("2026-11-25 08:00", tz=UTC) == datetime(2026, 11, 25, 8, tzinfo=UTC)
    assert parse_cn_datetime("2026-11-25T08:00+08:00", tz=UTC) == datetime(2026, 11, 25, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "words"), [
    ("2026-13-45", "month 13"),
    ("2026-02-30", "day 30"),
    ("2026年2月29日", "day 29"),                 # 2026 is not a leap year
    ("2026-11-25 25:61", "out of range"),
    ("2026-11-25-99:30:05", "out of range"),
    ("0000-11-25", "implausible year"),
    ("2026-11/25", "mixes separators"),
    ("11-25", "no year"),
    ("11月25日", "no year"),
    ("2026-11", "no day"),
    ("2026年11月", "no day"),
    ("3小时前", "relative"),
    ("昨天 10:30", "relative"),
    ("25 Nov 26 10:00 GMT", "two-digit year"),
    ("Wed, 25 Nov 2026 10:30:05 XYZ", "unknown time zone"),
    ("2026-11-25T10:30+25:00", "unknown time zone"),
    ("11/25/2026", "year last"),                 # US or European order: not guessed
    ("25/11/2026", "year last"),
    ("25.11.2026 10:30", "year last"),
    ("26-11-25", "two-digit year"),
    ("2026-11-2510:30", "runs into more digits"),
    ("2026-11-25 08", "followed by '08'"),        # an hour without minutes: not midnight
    ("2026/11/25/10", "followed by '/10'"),
    ("2026-11-25 10:30:05:12", "followed by"),
    ("2026-11-25 13:30 PM", "do not fit"),
    ("2026-11-25 0:30 AM", "do not fit"),
    ("2026-11-25 上午15:30", "do not fit"),
    ("2026-11-25 晚上12点", "do not fit"),
])
def test_flagged_not_guessed(text: str, words: str) -> None:
    parsed, problem = parse_or_flag(text)
    assert parsed is None
    assert problem is not None and words in problem
    assert parse_cn_datetime(text) is None


@pytest.mark.parametrize("text", ["", "   ", "国办发〔2026〕41号", "第12号", "来源：中国政府网", "abc"])
def test_no_date_is_not_a_problem(text: str) -> None:
    assert parse_or_flag(text) == (None, None)


def test_non_string_input_does_not_raise() -> None:
    assert parse_or_flag(None) == (None, None)  # type: ignore[arg-type]


# China observed summer time until 1991, so Asia/Shanghai is +08:00 only from 1992 on.
_moments = st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(2150, 12, 31)).map(
    lambda d: d.replace(microsecond=0))


@settings(max_examples=200, deadline=None)
@given(_moments, st.sampled_from([
    "%Y-%m-%d %H:%M:%S", "%Y年%m月%d日 %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y.%m.%d %H:%M:%S",
    "%Y-%m-%d-%H:%M:%S", "%Y-%m-%dT%H:%M:%S+08:00", "%a, %d %b %Y %H:%M:%S +0800", "%Y%m%d%H%M%S",
]))
def test_round_trip(moment: datetime, fmt: str) -> None:
    parsed, problem = parse_or_flag(moment.strftime(fmt))
    assert problem is None
    assert parsed is not None and parsed.replace(tzinfo=None) == moment
    assert parsed.utcoffset() == timedelta(hours=8)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_never_raises(text: str) -> None:
    parsed, problem = parse_or_flag(text)
    assert parsed is None or parsed.tzinfo is not None
    assert not (parsed is not None and problem is not None)
