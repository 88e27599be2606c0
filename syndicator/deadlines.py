"""Reprint deadlines in working days (鄂州政办函〔2015〕24号: "at the latest 1 working day").

Rules (all on aware datetimes, computed in `DeadlineSettings.timezone`):
- next_working_day_end (default): end (`day_end`) of the first working day that *begins after* the
  anchor. A day begins at its 00:00, so an item at exactly Monday 00:00 counts as published on
  Monday and is due Tuesday `day_end`; Sunday 23:59 is due Monday `day_end`.
- working_days: end of the N-th working day that begins after the anchor (N = 1 is the default rule).
- working_hours: the moment N × (office_end − office_start) of office time on working days has
  elapsed after the anchor.

Lateness is reported twice: clock hours, and "working hours" = office hours (08:30–17:30 by
default) on working days between deadline and delivery. An inspector reads the latter as "how much
office time went by while it was late": due Tuesday 24:00, posted Wednesday 09:00 → 9 clock hours,
0.5 working hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.clock import SHANGHAI
from syndicator.calendar import WorkCalendar

Rule = Literal["next_working_day_end", "working_days", "working_hours"]
_MAX_GAP_DAYS = 400  # more consecutive days off than this means a broken override, not a holiday


def _minutes(text: str) -> int:
    """'HH:MM' → minutes after midnight; '24:00' → 1440."""
    hh, sep, mm = text.partition(":")
    if not (sep and len(hh) == 2 and len(mm) == 2 and hh.isdigit() and mm.isdigit()):
        raise ValueError(f"时间应为 HH:MM 格式，实际为 {text!r}")
    h, m = int(hh), int(mm)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"时间超出范围（00:00–24:00）：{text!r}")
    return h * 60 + m


class DeadlineSettings(BaseModel):
    """How deadlines are computed; `[deadlines]` in the TOML config and per source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: Rule = "next_working_day_end"
    days: int = Field(default=1, ge=1, le=60)  # ignored by next_working_day_end (always 1)
    day_end: str = "24:00"
    office_start: str = "08:30"
    office_end: str = "17:30"
    timezone: str = "Asia/Shanghai"
    at_risk_hours: float = Field(default=4, ge=0)
    # No longer used (an old upstream time is a baseline or a late detection, never replaced): accepted so
    # existing configs still load; check-config warns about it.
    max_anchor_age_hours: float | None = Field(default=None, gt=0)
    future_tolerance_minutes: float = Field(default=10, ge=0)

    @field_validator("day_end", "office_start", "office_end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        _minutes(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"未知时区 {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _order(self) -> DeadlineSettings:
        if _minutes(self.day_end) == 0:
            raise ValueError("day_end 不能是 00:00（那是一天的开始）；午夜截止请写 24:00")
        if _minutes(self.office_start) >= _minutes(self.office_end):
            raise ValueError(f"office_start {self.office_start} 必须早于 office_end {self.office_end}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def office_length(self) -> timedelta:
        return timedelta(minutes=_minutes(self.office_end) - _minutes(self.office_start))


@dataclass(frozen=True)
class Deadline:
    """A computed deadline and what it rests on, so a delay record can explain itself."""

    anchor: datetime
    deadline: datetime
    provisional: bool  # some day consulted came from the weekends-only fallback
    rule: str
    working_days: list[date]  # the working days counted, in order


def _at(d: date, minutes: int, tz: ZoneInfo) -> datetime:
    """Wall-clock time `minutes` after the start of day `d`; 1440 is the next midnight."""
    if minutes >= 1440:
        return datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz)
    return datetime.combine(d, time(minutes // 60, minutes % 60), tzinfo=tz)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def choose_anchor(
    published_at: datetime | None, detected_at: datetime, settings: DeadlineSettings,
    tracking_start: datetime | None = None, date_problem: str | None = None,
) -> tuple[datetime, str]:
    """(anchor, case): the upstream publication time whenever the source gives a believable one, however old
    (an old time is never silently replaced: that hid lateness), else detection. Cases (syndicator.anchors):
    published (tracked), baseline (published before ``tracking_start``; None: no start known, never baseline),
    implausible (in the future beyond the tolerance, or unreadable), detected (no time given)."""
    _require_aware("detected_at", detected_at)
    if published_at is None:
        return detected_at, "implausible" if date_problem else "detected"
    _require_aware("published_at", published_at)
    if published_at > detected_at + timedelta(minutes=settings.future_tolerance_minutes):
        return detected_at, "implausible"
    if tracking_start is not None and published_at < tracking_start:
        return published_at, "baseline"
    return published_at, "published"


def _working_days_after(start: date, n: int, calendar: WorkCalendar) -> tuple[list[date], bool]:
    """The first `n` working days on or after `start`, and whether any consulted day was provisional."""
    found: list[date] = []
    provisional = False
    d, gap = start, 0
    while len(found) < n:
        provisional = calendar.is_provisional(d) or provisional
        if calendar.is_workday(d):
            found.append(d)
            gap = 0
        else:
            gap += 1
            if gap > _MAX_GAP_DAYS:
                raise ValueError(f"no working day in {_MAX_GAP_DAYS} days after {start}: check calendar overrides")
        d += timedelta(days=1)
    return found, provisional


def _working_hours_deadline(local: datetime, settings: DeadlineSettings, calendar: WorkCalendar) -> Deadline:
    tz, start_m, end_m = settings.tz, _minutes(settings.office_start), _minutes(settings.office_end)
    remaining = settings.office_length * settings.days
    counted: list[date] = []
    provisional = False
    d, gap = local.date(), 0
    while True:
        provisional = calendar.is_provisional(d) or provisional
        gap += 1
        if calendar.is_workday(d):
            gap = 0
            begin, end = max(_at(d, start_m, tz), local), _at(d, end_m, tz)
            if begin < end:
                counted.append(d)
                if end - begin >= remaining:
                    return Deadline(local, begin + remaining, provisional, settings.rule, counted)
                remaining -= end - begin
        if gap > _MAX_GAP_DAYS:
            raise ValueError(f"no working day in {_MAX_GAP_DAYS} days after {local.date()}: check calendar overrides")
        d += timedelta(days=1)


def compute_deadline(anchor: datetime, settings: DeadlineSettings, calendar: WorkCalendar) -> Deadline:
    """Deadline for an item anchored at `anchor`; `deadline` is in the settings' timezone.

    Raises ValueError (never OverflowError) when the deadline would fall beyond year 9999.
    """
    _require_aware("anchor", anchor)
    try:
        return _compute(anchor, settings, calendar)
    except OverflowError:
        raise ValueError(f"时间 {anchor.isoformat()} 超出可计算范围：截止时间将晚于 9999-12-31，"
                         "请检查输入的年份") from None


def _compute(anchor: datetime, settings: DeadlineSettings, calendar: WorkCalendar) -> Deadline:
    local = anchor.astimezone(settings.tz)
    if settings.rule == "working_hours":
        return _working_hours_deadline(local, settings, calendar)
    n = 1 if settings.rule == "next_working_day_end" else settings.days
    # "Begins after the anchor": the anchor's own day began at or before it, so start the next day.
    days, provisional = _working_days_after(local.date() + timedelta(days=1), n, calendar)
    return Deadline(local, _at(days[-1], _minutes(settings.day_end), settings.tz), provisional, settings.rule, days)


def deadline_for(
    published_at: datetime | None, detected_at: datetime, settings: DeadlineSettings, calendar: WorkCalendar,
    tracking_start: datetime | None = None, date_problem: str | None = None,
) -> tuple[Deadline, str]:
    """choose_anchor + compute_deadline: what the hub calls when an item is first stored."""
    anchor, kind = choose_anchor(published_at, detected_at, settings, tracking_start, date_problem)
    return compute_deadline(anchor, settings, calendar), kind


def office_hours_between(
    start: datetime, end: datetime, settings: DeadlineSettings, calendar: WorkCalendar
) -> float:
    """Hours of office time on working days inside [start, end]; 0 when end <= start."""
    _require_aware("start", start)
    _require_aware("end", end)
    tz = settings.tz
    lo, hi = start.astimezone(tz), end.astimezone(tz)
    if hi <= lo:
        return 0.0
    start_m, end_m = _minutes(settings.office_start), _minutes(settings.office_end)
    total = timedelta()
    d = lo.date()
    while d <= hi.date():
        if calendar.is_workday(d):
            a, b = max(_at(d, start_m, tz), lo), min(_at(d, end_m, tz), hi)
            if b > a:
                total += b - a
        d += timedelta(days=1)
    return total.total_seconds() / 3600


def lateness(
    deadline: datetime, at: datetime, settings: DeadlineSettings, calendar: WorkCalendar
) -> tuple[float, float]:
    """(clock hours late, office hours on working days late); (0, 0) when `at` is not after the deadline."""
    _require_aware("deadline", deadline)
    _require_aware("at", at)
    if at <= deadline:
        return 0.0, 0.0
    return (at - deadline).total_seconds() / 3600, office_hours_between(deadline, at, settings, calendar)


def is_at_risk(deadline: datetime, now: datetime, settings: DeadlineSettings) -> bool:
    """Not yet late but within `at_risk_hours` of the deadline: time to alert an admin."""
    _require_aware("deadline", deadline)
    _require_aware("now", now)
    return deadline - timedelta(hours=settings.at_risk_hours) <= now < deadline


def parse_time_text(text: str) -> datetime:
    """ISO 8601 (with or without offset) or 'YYYY-MM-DD HH:MM'; naive means Asia/Shanghai."""
    cleaned = text.strip()
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        value = None
    if value is None:
        raise ValueError(
            f"无法解析时间 {text!r}：请使用 ISO 8601（如 2025-10-01T10:00:00+08:00 或 2025-10-01T02:00:00Z）"
            "或 “YYYY-MM-DD HH:MM”（不带时区时按北京时间）"
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=SHANGHAI)


def deadline_report(
    time_text: str,
    settings: DeadlineSettings,
    calendar: WorkCalendar,
    *,
    rule: str | None = None,
    days: int | None = None,
) -> dict[str, Any]:
    """What `main.py deadline TIME [--rule R] [--days N]` prints, as a JSON-ready dict."""
    overrides: dict[str, Any] = {k: v for k, v in (("rule", rule), ("days", days)) if v is not None}
    if overrides:
        settings = DeadlineSettings.model_validate({**settings.model_dump(), **overrides})
    result = compute_deadline(parse_time_text(time_text), settings, calendar)
    return {
        "anchor": result.anchor.isoformat(),
        "deadline": result.deadline.isoformat(),
        "provisional": result.provisional,
        "rule": result.rule,
        "working_days": [d.isoformat() for d in result.working_days],
    }
