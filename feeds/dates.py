"""Publication dates as Chinese government sites write them, read strictly.

The deadline is anchored on the upstream publication time, so a date we cannot read must be
reported, not guessed: ``parse_or_flag`` returns the problem in words, and out-of-range values
(2026-13-45) are flagged rather than clamped. Naive times are Beijing time (UTC+8).

Understood: ``2026-11-25``, ``2026年11月25日``, ``2026.11.25``, ``2026/11/25``, each optionally
followed by ``10:30`` / ``10:30:05`` (also ``10时30分``, ``15时``, ``10点30分``), a 12-hour clock
(``10:30 PM``, ``下午3:30``, ``晚上8点``) and a zone (``+08:00``, ``Z``, ``GMT``, ``CST``); gov.cn's
meta form ``2026-11-25-10:30:05``, ISO 8601 with ``T``/offset/``Z``, RFC 822 (RSS), Java's
``Wed Nov 25 10:30:05 CST 2026``, ``二〇二六年十一月二十五日`` and a bare ``20261125``.

Flagged rather than read: a year-last date (``11/25/2026``: day/month order unknown), a two-digit
year (``26-11-25``), digits running on from a date (``2026-11-2510:30``, ``2026-11-25 08``), and a
12-hour marker that contradicts the hour (``下午15:30`` is fine, ``上午15:30`` is not).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN_YEAR, MAX_YEAR = 1900, 2199            # outside this a "year" is a misread, not a date
MAX_INPUT = 2000                           # date texts are short; bound the regex work

_AM_PERIODS = ("上午", "早上", "早晨", "凌晨")
_PM_PERIODS = ("下午", "傍晚", "晚上", "夜间", "夜里")
_PERIOD = "|".join((*_AM_PERIODS, "中午", *_PM_PERIODS))
_TIME = (
    rf"(?:\s*(?:T|-|\s)\s*)?(?P<P>{_PERIOD})?\s*(?P<H>\d{{1,2}})\s*"
    r"(?:[:时点]\s*(?P<M>\d{1,2})(?:\s*[:分]\s*(?P<S>\d{1,2})(?:[.,](?P<F>\d{1,9}))?\s*秒?|\s*分)?|[时点])"
    r"(?:\s*(?P<AP>[AaPp]\.?[Mm]\.?)(?![A-Za-z]))?"
    r"(?:\s*(?P<Z>Z|[+-]\d{2}:?\d{2}|UTC|GMT|UT|CST|BJT)(?![A-Za-z\d:]))?"
)
_NUMERIC = re.compile(
    r"(?<!\d)(?P<y>\d{4})\s*(?P<s1>[-./年])\s*(?P<m>\d{1,2})\s*(?P<s2>[-./月])\s*(?P<d>\d{1,2})(?!\d)\s*日?"
    rf"(?:{_TIME})?"
)
_CN_DIGITS = "〇零○O一二三四五六七八九十"
_CN_NUMERAL = re.compile(
    rf"(?P<y>[{_CN_DIGITS}0-9]{{4}})\s*年\s*(?P<m>[{_CN_DIGITS}]{{1,3}})\s*月\s*(?P<d>[{_CN_DIGITS}]{{1,3}})\s*日"
)
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
_MON = r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_RFC822 = re.compile(
    rf"(?i)(?<![\w])(?P<d>\d{{1,2}})\s+{_MON}\s+(?P<y>\d{{4}}|\d{{2}})\s+"
    r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?(?:\s*(?P<Z>[+-]\d{4}|(?-i:[A-Z]{1,5})\b))?"
)
_JAVA = re.compile(
    rf"(?i)\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\s+{_MON}\s+(?P<d>\d{{1,2}})\s+"
    r"(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2})\s+(?P<Z>(?-i:[A-Z]{2,5})|[+-]\d{4})\s+(?P<y>\d{4})\b"
)
_COMPACT = re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2}))?$")
# Chinese sites mean China Standard Time by "CST" (Java's Date.toString on servers in China),
# not US Central; the others are RFC 822 §5.1 zones.
_ZONES = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "CST": 8, "BJT": 8, "EST": -5, "EDT": -4,
          "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
# Texts that look like dates but lack something we will not invent.
_NO_DAY = re.compile(r"(?<!\d)\d{4}\s*(?:年\s*\d{1,2}\s*月|[-/.]\s*\d{1,2})(?![\d./-]|\s*[-/.月]\s*\d)")
_NO_YEAR = re.compile(r"(?<![\d./-])\d{1,2}\s*(?:月\s*\d{1,2}\s*日|[-/]\s*\d{1,2})(?![\d/-])")
_RELATIVE = re.compile(r"(刚刚|昨天|前天|今天|\d+\s*(?:秒|分钟|小时|天)前)")
_YEAR_LAST = re.compile(r"(?<![\d./-])\d{1,2}\s*([-/.])\s*\d{1,2}\s*\1\s*\d{4}(?!\d)")
_SHORT_YEAR = re.compile(r"(?<![\d./-])\d{2}\s*([-/.])\s*\d{1,2}\s*\1\s*\d{1,2}(?![\d./-])")
_RUN_ON = re.compile(r"(?<!\d)\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{3,}")
# After a date without a time, more digits mean a time we could not read ("2026-11-25 08");
# after a full time, digits glued on mean the same ("10:30:05:12").
_AFTER_DATE = re.compile(r"\s*[-/.:T]?\s*\d")
_AFTER_TIME = re.compile(r"[:.]?\d")


def parse_cn_datetime(text: str, *, tz: tzinfo = SHANGHAI) -> datetime | None:
    """The first date in ``text`` as an aware datetime, or None (no date, or not understood)."""
    return parse_or_flag(text, tz=tz)[0]


def parse_or_flag(text: str, *, tz: tzinfo = SHANGHAI) -> tuple[datetime | None, str | None]:
    """``(datetime, None)``; ``(None, None)`` when there is no date; ``(None, problem)`` when
    something date-like was found but not understood. Never raises."""
    try:
        return _parse(text, tz)
    except Exception as exc:  # a parser bug must not stop a feed; report it as a date problem
        return None, f"date text {_clip(text)!r} could not be read ({type(exc).__name__}: {exc})"


def _parse(text: str, tz: tzinfo) -> tuple[datetime | None, str | None]:
    if not isinstance(text, str) or not text.strip():
        return None, None
    norm = unicodedata.normalize("NFKC", text[:MAX_INPUT]).strip()
    compact = _COMPACT.match(norm)
    if compact:
        return _build(compact.groupdict(), norm, tz)
    found = [m for m in (rx.search(norm) for rx in (_NUMERIC, _CN_NUMERAL, _RFC822, _JAVA)) if m]
    if not found:
        return None, _looks_like_date(norm)
    match = min(found, key=lambda m: m.start())
    raw = match.group(0).strip()
    if match.re is _NUMERIC:
        s1, s2 = match["s1"], match["s2"]
        if (s1 == "年") != (s2 == "月") or (s1 != "年" and s1 != s2):
            return None, f"date {raw!r} mixes separators {s1!r} and {s2!r}"
        rest = norm[match.end():]
        if (_AFTER_TIME if match["H"] else _AFTER_DATE).match(rest):
            return None, f"date {raw!r} is followed by {_clip(rest, 20)!r}, which is not a time we can read"
        return _build(match.groupdict(), raw, tz)
    if match.re is _CN_NUMERAL:
        parts = {k: _cn_number(match[k], year=k == "y") for k in ("y", "m", "d")}
        if None in parts.values():
            return None, f"date {raw!r} has Chinese numerals we cannot read"
        return _build({k: str(v) for k, v in parts.items()}, raw, tz)
    fields = match.groupdict()
    fields["m"] = str(_MONTHS[fields.pop("mon")[:3].lower()])
    if len(fields["y"]) == 2:
        return None, f"date {raw!r} has a two-digit year"
    return _build(fields, raw, tz)


def _build(f: dict[str, str | None], raw: str, tz: tzinfo) -> tuple[datetime | None, str | None]:
    year, month, day = int(f["y"] or 0), int(f["m"] or 0), int(f["d"] or 0)
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None, f"date {raw!r} has an implausible year {year}"
    if not 1 <= month <= 12:
        return None, f"date {raw!r} has month {month}, outside 1..12"
    try:
        date = datetime(year, month, day)
    except ValueError:
        return None, f"date {raw!r} has day {day}, which month {month} of {year} does not have"
    hour, minute, second = (int(f.get(k) or 0) for k in ("H", "M", "S"))
    if f.get("P") or f.get("AP"):
        marker = str(f.get("P") or f.get("AP"))
        clock = _twelve_hour(hour, marker)
        if clock is None:
            return None, f"date {raw!r} has hour {hour} with {marker!r}, which do not fit together"
        hour = clock
    if hour > 23 or minute > 59 or second > 59:
        return None, f"date {raw!r} has time {hour:02d}:{minute:02d}:{second:02d}, out of range"
    micro = int(((f.get("F") or "") + "000000")[:6])
    zone: tzinfo = tz
    if f.get("Z"):
        parsed = _zone(str(f["Z"]))
        if parsed is None:
            return None, f"date {raw!r} has an unknown time zone {f['Z']!r}"
        zone = parsed
    return date.replace(hour=hour, minute=minute, second=second, microsecond=micro, tzinfo=zone), None


def _twelve_hour(hour: int, marker: str) -> int | None:
    """The 24-hour hour for ``10`` + ``PM`` / ``3`` + ``下午``; None when they contradict."""
    ap = marker.replace(".", "").upper()
    if ap in ("AM", "PM"):
        if not 1 <= hour <= 12:
            return None
        return hour % 12 + (12 if ap == "PM" else 0)
    if marker in _AM_PERIODS:
        if hour > 12:
            return None
        return 0 if marker == "凌晨" and hour == 12 else hour
    if marker == "中午":
        return hour + 12 if 1 <= hour <= 2 else (hour if hour in (11, 12) else None)
    if 1 <= hour <= 11:                         # 下午3点, 晚上8点
        return hour + 12
    if hour == 12 and marker == "下午":
        return 12
    return hour if 13 <= hour <= 23 else None   # 下午15:30 says it twice; 晚上12点 is ambiguous


def _zone(z: str) -> tzinfo | None:
    z = z.strip()
    if z.upper() in _ZONES:
        return timezone(timedelta(hours=_ZONES[z.upper()]))
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", z)
    if not m or int(m[2]) > 23 or int(m[3]) > 59:
        return None
    offset = timedelta(hours=int(m[2]), minutes=int(m[3]))
    return timezone(-offset if m[1] == "-" else offset)


def _cn_number(s: str, *, year: bool) -> int | None:
    """二〇二六 -> 2026 (digit by digit); 二十五 -> 25, 十一 -> 11 (positional with 十)."""
    digit = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "○": 0, "O": 0}
    digit |= {str(i): i for i in range(10)}
    if year:
        if any(c not in digit for c in s):
            return None
        return int("".join(str(digit[c]) for c in s))
    if "十" not in s:
        return digit.get(s) if len(s) == 1 else None
    tens, _, ones = s.partition("十")
    if len(tens) > 1 or len(ones) > 1 or (tens and tens not in digit) or (ones and ones not in digit):
        return None
    return (digit[tens] if tens else 1) * 10 + (digit[ones] if ones else 0)


def _looks_like_date(norm: str) -> str | None:
    if m := _RELATIVE.search(norm):
        return f"relative date {m.group(0)!r} in {_clip(norm)!r} has no absolute day"
    if m := _YEAR_LAST.search(norm):
        return f"date {m.group(0)!r} puts the year last; day and month order is ambiguous"
    if m := _SHORT_YEAR.search(norm):
        return f"date {m.group(0)!r} has a two-digit year"
    if m := _RUN_ON.search(norm):
        return f"date {m.group(0)!r} runs into more digits; not read"
    if m := _NO_DAY.search(norm):
        return f"date {m.group(0)!r} has no day"
    if m := _NO_YEAR.search(norm):
        return f"date {m.group(0)!r} has no year"
    return None


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
