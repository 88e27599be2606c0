"""Chinese working-day calendar with yearly overrides and a loud weekends-only fallback.

Source order per year: `config/calendar/<year>.toml` (the State Council notice, typed in by an
operator or confirmed from a draft the hub made of the notice) → the `chinese_calendar` package
(2004–2026 in 1.11) → weekends plus the statutory holidays the law fixes (syndicator.statutory_holidays;
only the make-up workdays stay unknown). The fallback exists so an uncovered year never crashes deadline
computation; every day taken from it is "provisional" and the gap is reported in `warnings()` and the log.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import chinese_calendar
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from syndicator.statutory_holidays import statutory_holidays

log = logging.getLogger(__name__)

Coverage = Literal["override", "package", "fallback"]
_FILE_NAME = re.compile(r"^(\d{4})\.toml$")
_DAY_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CalendarOverrideError(ValueError):
    """An override file is unreadable or invalid; the message names the file and the field."""


def _strict_day(value: Any) -> date:
    """Accept only a TOML date or a "YYYY-MM-DD" string, so 20270101 or "2027-1-1" are rejected."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DAY_TEXT.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"不存在的日期 {value!r}") from None
    raise ValueError(f"应为 YYYY-MM-DD 格式的日期，实际为 {value!r}")


Day = Annotated[date, BeforeValidator(_strict_day)]


def _expand(start: date, end: date) -> list[date]:
    return [start + timedelta(n) for n in range((end - start).days + 1)]


class HolidayRange(BaseModel):
    """A run of consecutive days off, e.g. `{ from = "2027-02-06", to = "2027-02-14", name = "春节" }`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: Day = Field(alias="from")
    end: Day = Field(alias="to")
    name: str = ""


HolidayEntry = Annotated[
    Annotated[Day, Tag("date")] | Annotated[HolidayRange, Tag("range")],
    Discriminator(lambda v: "range" if isinstance(v, dict | HolidayRange) else "date"),
]


class YearOverride(BaseModel):
    """One year's arrangement as published by 国务院办公厅 (see config/calendar/README.md)."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=1901, le=9998)
    notice: str = Field(min_length=1)
    url: str = ""                       # where the notice was read (drafts the hub made of it)
    published: Day | None = None        # the notice's publication date
    holidays: list[HolidayEntry] = Field(default_factory=list)
    workdays: list[Day] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> YearOverride:
        problems: list[str] = []
        off: dict[date, str] = {}
        for i, entry in enumerate(self.holidays):
            if isinstance(entry, HolidayRange):
                if entry.start > entry.end:
                    problems.append(f"holidays[{i}]: from {entry.start} 晚于 to {entry.end}")
                outside = [(f"holidays[{i}].{k}", d) for k, d in (("from", entry.start), ("to", entry.end))
                           if d.year != self.year]
                problems.extend(f"{label}: {d} 不在 {self.year} 年内" for label, d in outside)
                if not outside:  # expand only bounded ranges (at most one year of days)
                    off.update((d, f"holidays[{i}]") for d in _expand(entry.start, entry.end))
            else:
                if entry.year != self.year:
                    problems.append(f"holidays[{i}]: {entry} 不在 {self.year} 年内")
                off[entry] = f"holidays[{i}]"
        for i, d in enumerate(self.workdays):
            if d.year != self.year:
                problems.append(f"workdays[{i}]: {d} 不在 {self.year} 年内")
            if d.weekday() < 5:
                problems.append(f"workdays[{i}]: {d} 不是周六或周日，调休上班日只应列周末")
            if d in off:
                problems.append(f"workdays[{i}]: {d} 同时出现在 {off[d]} 中，一天不能既放假又上班")
        if problems:
            raise ValueError("；".join(problems))
        return self

    def days_off(self) -> frozenset[date]:
        """All listed holiday days, ranges expanded."""
        out: set[date] = set()
        for entry in self.holidays:
            if isinstance(entry, HolidayRange):
                out.update(_expand(entry.start, entry.end))
            else:
                out.add(entry)
        return frozenset(out)


@dataclass(frozen=True, slots=True)
class LoadedOverride:
    """A validated override, reduced to the two sets the calendar needs."""

    year: int
    notice: str
    path: Path
    holidays: frozenset[date]
    workdays: frozenset[date]


_MESSAGES = {"missing": "缺少必填字段", "extra_forbidden": "不认识的字段（拼写错误？）"}


def _format_error(path: Path, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ""
        for p in err["loc"]:
            if isinstance(p, int):
                loc += f"[{p}]"
            elif p not in ("date", "range") and not str(p).startswith("function-"):
                loc += f".{p}" if loc else str(p)
        msg = _MESSAGES.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"{path}: " + "；".join(parts)


def load_override(path: Path) -> LoadedOverride:
    """Read and validate one `<year>.toml`; raise CalendarOverrideError naming file and field."""
    m = _FILE_NAME.match(path.name)
    if not m:
        raise CalendarOverrideError(f"{path}: 文件名应为 <年份>.toml，例如 2027.toml")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CalendarOverrideError(f"{path}: 无法读取或解析 TOML：{exc}") from exc
    try:
        model = YearOverride.model_validate(raw)
    except ValidationError as exc:
        raise CalendarOverrideError(_format_error(path, exc)) from None
    if model.year != int(m.group(1)):
        raise CalendarOverrideError(f"{path}: year: 文件名是 {path.name}，但 year = {model.year}")
    return LoadedOverride(model.year, model.notice, path, model.days_off(), frozenset(model.workdays))


def _package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """Answers "is this a working day?" for any date, and says how trustworthy the answer is."""

    def __init__(self, override_dir: Path | None = None) -> None:
        self.override_dir = Path(override_dir) if override_dir is not None else None
        self._overrides: dict[int, LoadedOverride] = {}
        self._package: dict[int, bool] = {}
        self._uncovered_used: set[int] = set()
        self.pending_notices: dict[int, str] = {}   # year -> what was found, set by CalendarNotices.refresh
        self.reload()

    def reload(self) -> None:
        """Re-read the override directory; on any invalid file raise and keep the previous state."""
        loaded: dict[int, LoadedOverride] = {}
        if self.override_dir is not None and self.override_dir.is_dir():
            for path in sorted(self.override_dir.glob("*.toml")):
                item = load_override(path)
                loaded[item.year] = item
        self._overrides = loaded
        log.debug("calendar overrides loaded for years %s", sorted(loaded))

    def coverage(self, year: int) -> Coverage:
        """Where the answers for `year` come from."""
        if year in self._overrides:
            return "override"
        if year not in self._package:
            self._package[year] = _package_covers(year)
        return "package" if self._package[year] else "fallback"

    def override_days(self) -> dict[int, tuple[frozenset[date], frozenset[date]]]:
        """(holidays, make-up workdays) of every loaded override, by year."""
        return {y: (o.holidays, o.workdays) for y, o in self._overrides.items()}

    def base_is_workday(self, d: date) -> bool:
        """The answer without any override: the package where it covers the year, else weekends only."""
        if d.year not in self._package:
            self._package[d.year] = _package_covers(d.year)
        return bool(chinese_calendar.is_workday(d)) if self._package[d.year] else _guess_is_workday(d)

    def notice(self, year: int) -> str | None:
        """The State Council notice an override cites, for delay records and the dashboard."""
        item = self._overrides.get(year)
        return item.notice if item else None

    def override_path(self, year: int) -> Path:
        """Where the operator should put the arrangement for `year`."""
        return (self.override_dir or Path("config/calendar")) / f"{year}.toml"

    def is_provisional(self, d: date) -> bool:
        """True when `d` is answered by the weekends-only guess."""
        if self.coverage(d.year) != "fallback":
            return False
        if d.year not in self._uncovered_used:
            self._uncovered_used.add(d.year)
            log.warning(
                "No holiday arrangement for %d: deadlines use weekends plus the fixed statutory holidays "
                "(make-up workdays unknown) and are provisional; add %s",
                d.year, self.override_path(d.year),
            )
        return True

    def is_workday(self, d: date) -> bool:
        """Working day per the best available source; never raises for a valid date."""
        if isinstance(d, datetime):  # which day a datetime falls on depends on the timezone
            raise TypeError("is_workday needs a local date, not a datetime")
        source = self.coverage(d.year)
        if source == "override":
            item = self._overrides[d.year]
            if d in item.workdays:
                return True
            if d in item.holidays:
                return False
            return d.weekday() < 5
        if source == "package":
            return bool(chinese_calendar.is_workday(d))
        self.is_provisional(d)  # records the use and logs once
        return _guess_is_workday(d)

    def warnings(self, today: date) -> list[str]:
        """Operator-facing warnings (Chinese) for every uncovered year in use, and next year from 1 Dec. They say
        what to do in words, never the server's file path (``override_path`` is for the command line and logs)."""
        years = {y for y in self._uncovered_used if self.coverage(y) == "fallback"}
        if self.coverage(today.year) == "fallback":
            years.add(today.year)
        if today.month == 12 and self.coverage(today.year + 1) == "fallback":
            years.add(today.year + 1)
        return [
            f"{y}年节假日安排尚未载入：{self.pending_notices[y]}" if y in self.pending_notices else
            f"{y}年节假日安排尚未载入：截止时间按周末和法定节假日临时计算（调休未知）。国务院办公厅发布{y}年"
            f"节假日安排通知后，本系统会自动识别并生成草案，请管理员核对后在看板点“确认”；也可由系统管理员按部署说明"
            f"在节假日日历目录中补充{y}年安排"
            for y in sorted(years)
        ]


def _guess_is_workday(d: date) -> bool:
    """A year nobody has published: weekends and the law's fixed holidays are off, make-up days unknown."""
    return d.weekday() < 5 and d not in statutory_holidays(d.year)
