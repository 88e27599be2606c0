"""Which time a deadline is counted from, as an explicit case an inspector can read.

The deadline is always counted from the upstream publication time when the source gives a believable
one — an old upstream time is never silently replaced by the detection time (that hid lateness: an
item published on 12-01 and found on 12-05 was reported on time). The cases:

- ``published`` (tracked): the source was watched when the item appeared; a late detection shows in
  the delay reason with the source's health at the time (``detection_health``).
- ``baseline``: published before the source's tracking start (its first successful poll, or
  ``tracking_starts_at`` in the config): delivered normally, counted apart, never as on time.
- ``implausible``: the upstream time lies in the future beyond ``future_tolerance_minutes`` or could
  not be read: anchored at detection and listed in the report as the source's data-quality problem.
- ``detected``: the source gives no time at all: anchored at detection (also a data-quality note).
- ``updated``: a re-send after an upstream change, due from the change's detection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.models import SourceHealth
from syndicator.delays import local_text

ANCHOR_LABELS = {
    "published": "正常跟踪",
    "baseline": "基线/未纳入考核",
    "implausible": "发布时间异常（按检测时间）",
    "detected": "无发布时间（按检测时间）",
    "updated": "更新重发",
}
# Cases that are a problem of the source's data, listed as such in the report.
DATA_QUALITY_KINDS = ("implausible", "detected")
ANCHOR_DEFINITIONS = (
    "时间起算口径：正常跟踪 = 稿件发布时本系统已在跟踪该来源，截止时间从上游发布时间起算；如本系统发现稿件晚于发布，"
    "延误原因写明“检测延迟”及当时来源状况（抓取失败、列表未列出、尚未到抓取时间），迟发现不改变截止时间。"
    "基线/未纳入考核 = 稿件发布于本系统开始跟踪该来源之前（首次成功抓取或配置的跟踪起始时间），照常转载，"
    "单独统计，不计入按时、超时或未发布，也不视为按时。发布时间异常 = 上游标注的发布时间晚于发现时间"
    "（超出容差）或无法识别，按本系统发现时间起算，并在“来源数据质量问题”中列出。无发布时间 = 上游未提供发布时间，"
    "按发现时间起算。更新重发 = 上游修改后重发，从发现修改的时间起算。人工更正的发布时间会记录更正人、理由和原值，"
    "并据此重新计算截止时间。")


def anchor_label(kind: str | None) -> str:
    return ANCHOR_LABELS.get(kind or "", kind or "")


@dataclass(frozen=True, slots=True)
class DetectionHealth:
    code: str      # failing | empty | not_due | not_running
    note: str      # Simplified Chinese, quoted in the delay reason


def detection_health(published_at: datetime, detected_at: datetime, health: SourceHealth,
                     interval_s: float, tz: Any) -> DetectionHealth:
    """Why a tracked item was found only at ``detected_at``: the source's state before this poll, as stored."""
    if health.failing_since is not None and health.failing_since <= detected_at:
        err = (health.last_error or "").strip()
        err = err if len(err) <= 60 else err[:60] + "…"
        return DetectionHealth("failing", f"来源抓取失败：自 {local_text(health.failing_since, tz)} 起连续失败 "
                                          f"{health.consecutive_errors} 次" + (f"（最近错误：{err}）" if err else ""))
    if health.last_error_at is not None and published_at <= health.last_error_at <= detected_at:
        return DetectionHealth("failing", f"期间来源曾抓取失败（{local_text(health.last_error_at, tz)}）")
    last = health.last_success_at
    if last is not None and last >= published_at:
        return DetectionHealth("empty", f"来源列表当时未列出该稿件（{local_text(last, tz)} 抓取成功，列表中无此稿件）")
    if last is not None and detected_at - last > timedelta(seconds=2 * interval_s):
        return DetectionHealth("not_running", f"自 {local_text(last, tz)} 后未再抓取（系统未运行或抓取被推迟）")
    if last is None:
        return DetectionHealth("not_running", "此前未成功抓取过该来源")
    return DetectionHealth("not_due", f"按抓取间隔尚未轮到检查（上次抓取 {local_text(last, tz)}，"
                                      f"间隔 {interval_s / 60:g} 分钟）")
