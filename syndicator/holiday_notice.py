"""Read and check the State Council General Office's yearly holiday notice.

Every November 国务院办公厅 publishes "国务院办公厅关于YYYY年部分节假日安排的通知" on www.gov.cn
(2025: https://www.gov.cn/zhengce/content/202411/content_6986382.htm, 国办发明电〔2024〕12号;
2026: https://www.gov.cn/zhengce/content/202511/content_7047090.htm, 国办发明电〔2025〕7号). Its body
has one numbered line per holiday in a fixed form, e.g.

    一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
    六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。

Older notices also write "X月X日放假，与周末连休" and "X月X日（星期一）补休". This module turns such a
body into holiday ranges and make-up workdays and says, in Chinese, everything that does not add up
(a weekday that disagrees with its date, a 共N天 that is not the range's length, a make-up day on a
weekday, a statutory holiday missing, a year that differs from the title). It does no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

TITLE = re.compile(r"国务院办公厅关于\s*(\d{4})\s*年\s*部分节假日安排的通知")
AUTHORITY = "国务院办公厅"
# The seven holidays of 全国年节及纪念日放假办法 (2024 revision, in force from 2025-01-01, art. 2).
STATUTORY = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")
WEEKDAYS = "一二三四五六日"
_NUMERALS = "一二三四五六七八九十"
# Full-width punctuation folded to ASCII so one set of patterns reads both renderings seen in copies.
_FOLD = str.maketrans({"：": ":", "（": "(", "）": ")", "，": ",", "；": ";", "\u3000": " "})
_LINE = re.compile(rf"^\s*[{_NUMERALS}]+、\s*(?P<names>[^:]+?)\s*:\s*(?P<body>.+)$")
_DAY = r"(?:(?P<{p}y>\d{{4}})年)?(?:(?P<{p}m>\d{{1,2}})月)?(?P<{p}d>\d{{1,2}})日(?:\((?P<{p}note>[^)]*)\))?"
_RANGE = re.compile(_DAY.format(p="a") + r"\s*(?:至|—|-|~)\s*" + _DAY.format(p="b"))
_SINGLE = re.compile(_DAY.format(p="a"))
_TOTAL = re.compile(r"(?:共|放假)\s*(\d+)\s*天")
_WEEKDAY = re.compile(r"(?:周|星期)([一二三四五六日天])")
_INTRO_YEAR = re.compile(r"现将\s*(\d{4})\s*年")
_SIGNED = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日\s*$")


@dataclass(slots=True)
class Holiday:
    """One numbered line: a run of days off (with any 补休 days) and its make-up workdays."""

    names: tuple[str, ...]
    start: date
    end: date
    workdays: list[date] = field(default_factory=list)
    extra_days_off: list[date] = field(default_factory=list)   # "补休" days outside the range
    declared_days: int | None = None                           # the "共N天" figure
    line: str = ""

    @property
    def name(self) -> str:
        return "、".join(self.names)

    def days(self) -> list[date]:
        return [self.start + timedelta(n) for n in range((self.end - self.start).days + 1)]


@dataclass(slots=True)
class ParsedNotice:
    title: str
    year: int | None
    holidays: list[Holiday] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)    # any entry means: a person must check the notice
    notes: list[str] = field(default_factory=list)       # facts that do not make it invalid
    signed_on: date | None = None                        # the date under "国务院办公厅" at the end

    @property
    def valid(self) -> bool:
        return self.year is not None and not self.problems and bool(self.holidays)


def notice_year(title: str) -> int | None:
    """The year a title announces, or None when the title is not the holiday notice."""
    m = TITLE.search(title or "")
    return int(m.group(1)) if m else None


def _weekday_in(note: str | None) -> int | None:
    m = _WEEKDAY.search(note or "")
    if not m:
        return None
    return 6 if m.group(1) in "日天" else WEEKDAYS.index(m.group(1))


class _Reader:
    """Dates of one line: a bare "3日" takes the month (and year) of the date before it."""

    def __init__(self, year: int, problems: list[str], label: str) -> None:
        self.year, self.month, self.problems, self.label = year, 1, problems, label

    def day(self, m: re.Match[str], p: str) -> date | None:
        year = int(m.group(f"{p}y")) if m.group(f"{p}y") else self.year
        if m.group(f"{p}m"):
            self.month = int(m.group(f"{p}m"))
        try:
            d = date(year, self.month, int(m.group(f"{p}d")))
        except ValueError:
            self.problems.append(f"{self.label}：{self.month}月{m.group(f'{p}d')}日 不是有效日期")
            return None
        stated = _weekday_in(m.group(f"{p}note"))
        if stated is not None and stated != d.weekday():
            self.problems.append(f"{self.label}：{d.month}月{d.day}日 标注为周{WEEKDAYS[stated]}，"
                                 f"实际是周{WEEKDAYS[d.weekday()]}")
        return d


def _parse_line(names: str, body: str, year: int, problems: list[str]) -> Holiday | None:
    label = names
    reader = _Reader(year, problems, label)
    sentences = [s for s in re.split(r"[。;]", body) if s.strip()]
    if not sentences:
        problems.append(f"{label}：没有日期")
        return None
    first, rest = sentences[0], sentences[1:]
    holiday_part = first.split("补休")[0]
    m = _RANGE.search(holiday_part)
    if m:
        start, end = reader.day(m, "a"), reader.day(m, "b")
    elif m := _SINGLE.search(holiday_part):
        start = end = reader.day(m, "a")
    else:
        problems.append(f"{label}：读不出放假日期（{first.strip()[:40]}）")
        return None
    if start is None or end is None:
        return None
    if start > end:
        problems.append(f"{label}：放假起始 {start} 晚于结束 {end}")
        return None
    holiday = Holiday(tuple(n.strip() for n in re.split(r"[、和与]", names) if n.strip()), start, end,
                      line=f"{names}:{body}")
    if "与周末连休" in first:      # a single day joined to the weekend next to it
        while holiday.start.weekday() != 5 and (holiday.start - timedelta(1)).weekday() >= 5:
            holiday.start -= timedelta(1)
        while (holiday.end + timedelta(1)).weekday() >= 5:
            holiday.end += timedelta(1)
    for sentence in sentences:
        total = _TOTAL.search(sentence)
        if total and holiday.declared_days is None:
            holiday.declared_days = int(total.group(1))
        if "补休" in sentence:
            for part in sentence.split("补休")[:-1]:
                days = [reader.day(x, "a") for x in _SINGLE.finditer(part.split("放假")[-1])]
                holiday.extra_days_off += [d for d in days if d is not None and not (start <= d <= end)]
    for sentence in rest:
        if "上班" not in sentence:
            continue
        for x in _SINGLE.finditer(sentence):
            d = reader.day(x, "a")
            if d is not None:
                holiday.workdays.append(d)
    return holiday


def parse_notice(title: str, text: str) -> ParsedNotice:
    """Parse a notice's plain text (HTML already reduced to lines) and check it."""
    year = notice_year(title)
    notice = ParsedNotice(title=title.strip(), year=year)
    if year is None:
        notice.problems.append(f"标题不是“国务院办公厅关于YYYY年部分节假日安排的通知”：{title[:60]}")
        return notice
    folded = text.translate(_FOLD)
    lines = [ln.strip() for ln in folded.splitlines() if ln.strip()]
    for line in lines:
        intro = _INTRO_YEAR.search(line)
        if intro and int(intro.group(1)) != year:
            notice.problems.append(f"正文称“{intro.group(1)}年”的安排，与标题的 {year} 年不符")
        if m := _LINE.match(line):
            holiday = _parse_line(m.group("names"), m.group("body"), year, notice.problems)
            if holiday is not None:
                notice.holidays.append(holiday)
    if lines and (signed := _SIGNED.search(lines[-1]) or (len(lines) > 1 and _SIGNED.search(lines[-2]))):
        try:
            notice.signed_on = date(int(signed.group(1)), int(signed.group(2)), int(signed.group(3)))
        except ValueError:
            pass
    _check(notice, year)
    return notice


def _check(notice: ParsedNotice, year: int) -> None:
    p = notice.problems
    if not notice.holidays:
        p.append("正文中没有找到“一、元旦：……”格式的放假安排")
        return
    named = {n for h in notice.holidays for n in h.names}
    missing = [n for n in STATUTORY if n not in named]
    if missing:
        p.append("缺少法定节假日：" + "、".join(missing))
    days_off: dict[date, str] = {}
    for h in notice.holidays:
        length = len(h.days())
        if h.declared_days is not None and h.declared_days != length:
            p.append(f"{h.name}：写明共{h.declared_days}天，但 {h.start} 至 {h.end} 是 {length} 天")
        if h.start.year != year or h.end.year != year:
            p.append(f"{h.name}：放假日期 {h.start} 至 {h.end} 不在 {year} 年内")
        for d in h.days() + h.extra_days_off:
            if d in days_off and days_off[d] != h.name:
                p.append(f"{h.name}：{d} 已在 {days_off[d]} 中放假")
            days_off[d] = h.name
    for h in notice.holidays:
        for d in h.workdays:
            if d.weekday() < 5:
                p.append(f"{h.name}：调休上班日 {d} 是周{WEEKDAYS[d.weekday()]}，不是周末")
            if d in days_off:
                p.append(f"{h.name}：{d} 既放假又上班")
            if d.year != year:
                notice.notes.append(f"{h.name}：上班日 {d} 属于 {d.year} 年，须写入该年的覆盖文件")
