"""Every Chinese word the hub shows for a delivery state, a channel kind, a delay kind and a delay cause.

One table per thing, read by the dashboard, the WeChat console, the CLI, the reports and the evidence
files alike: an operator who sees 等待重试 on the console must see 等待重试 on the dashboard and in the
monthly evidence, never 重试中 in one place and 等待重试 in another (issue #11). Delay causes are data
(``core.models.DelayCause``); ``cause_text`` is the one place they become Chinese.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from core.clock import SHANGHAI
from core.models import CauseKind, DelayCause, DelayKind, DeliveryState

STATE_LABELS: dict[str, str] = {
    DeliveryState.PENDING: "待发送",
    DeliveryState.SENDING: "发送中",
    DeliveryState.CONFIRMING: "待平台确认",
    DeliveryState.RETRYING: "等待重试",     # it waits for next_attempt_at; nothing is being sent meanwhile
    DeliveryState.HELD: "暂存",             # an account pause, lost authorisation or an implausible body
    DeliveryState.DELIVERED: "已发布",
    DeliveryState.FAILED: "发送失败",
    DeliveryState.SKIPPED: "已跳过",
}
# One label per real channel kind (channels/registry.py).
CHANNEL_LABELS: dict[str, str] = {
    "cms": "政府网站（CMS）", "static": "政府网站（静态发布）", "weibo": "政务微博", "wechat": "政务微信",
    "push": "新闻客户端", "webhook": "客户端（Webhook）", "manual": "政府网站（人工转载）"}
DELAY_KIND_LABELS: dict[str, str] = {
    DelayKind.AT_RISK: "即将超时", DelayKind.OVERDUE: "已超时未发布", DelayKind.DELIVERED_LATE: "超时发布",
    DelayKind.FAILED: "发送失败", DelayKind.SKIPPED: "人工跳过", DelayKind.NOT_VISIBLE: "已发送但公开页面未见"}
ACCOUNT_STATE_LABELS: dict[str, str] = {
    "active": "正常", "paused": "已暂停", "needs_reauth": "需重新授权", "platform_hold": "平台限制"}
# How a waiting delivery reads while its account keeps it back (syndicator.dashboard.backlog).
BLOCKED_LABELS: dict[str, str] = {"needs_reauth": "暂存（账号不可用）", "paused": "已暂停"}
# One attempt's outcome (the attempts and receipts tables).
OUTCOME_LABELS: dict[str | None, str] = {
    "delivered": "已发布", "accepted": "平台已受理", "retry": "稍后重试", "failed": STATE_LABELS["failed"],
    "held": STATE_LABELS["held"], "interrupted": "进程中断", None: "进行中"}

NOT_VISIBLE_REASON = DELAY_KIND_LABELS[DelayKind.NOT_VISIBLE]
UNKNOWN_CAUSE = "未发现渠道错误、暂停或检测延迟记录，请核查系统运行日志"
CAUSE_LEAD = "；原因："          # open, late and not-visible records: what explains the delay
RELATED_LEAD = "；相关情况："    # failed and skipped records: the person's or platform's word leads, these follow
CAUSE_SEP = "；"


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def channel_label(kind: str) -> str:
    return CHANNEL_LABELS.get(kind, kind)


def delay_kind_label(kind: str) -> str:
    return DELAY_KIND_LABELS.get(kind, kind)


def account_state_label(state: str) -> str:
    return ACCOUNT_STATE_LABELS.get(state, state)


def blocked_label(account_state: str) -> str:
    return BLOCKED_LABELS.get(account_state, BLOCKED_LABELS["needs_reauth"])


# What an account that is not active keeps back (not sending/confirming: those already left).
WAITING_STATES: tuple[str, ...] = (DeliveryState.PENDING, DeliveryState.RETRYING, DeliveryState.HELD)


def shown_state_label(state: str, account_state: str | None = None) -> str:
    """How a delivery reads: a waiting one of a paused or unauthorised account says so (暂存（账号不可用）/
    已暂停), never an ordinary 待发送 — on the dashboard and the console alike."""
    if account_state not in (None, "active") and state in WAITING_STATES:
        return blocked_label(account_state)
    return state_label(state)


def outcome_label(outcome: str | None) -> str:
    return OUTCOME_LABELS.get(outcome, outcome or "")


def local_text(when: datetime, tz: Any = SHANGHAI) -> str:
    """'YYYY-MM-DD HH:MM' local time; midnight is written as the previous day's 24:00, as notices do."""
    local = when.astimezone(tz)
    if (local.hour, local.minute, local.second) == (0, 0, 0):
        return f"{(local - timedelta(days=1)):%Y-%m-%d} 24:00"
    return f"{local:%Y-%m-%d %H:%M}"


def hours_text(hours: float) -> str:
    return f"{hours:.1f}".rstrip("0").rstrip(".")


def _at(facts: dict[str, Any], key: str, tz: Any) -> str:
    return local_text(datetime.fromisoformat(facts[key]), tz)


def _quoted(text: str) -> str:
    """Fact text quoted inside a cause: its "；" would read as a cause boundary, so it becomes ";"."""
    return text.replace(CAUSE_SEP, ";")


def cause_text(cause: DelayCause, tz: Any = SHANGHAI) -> str:
    """The one place a delay cause becomes Chinese."""
    f, k = cause.facts, cause.kind
    note = f"（{f['note']}）" if f.get("note") else ""
    if k is CauseKind.ACCOUNT_PAUSED:
        return f"人工暂停：{f.get('reason') or '未填写原因'}"
    if k is CauseKind.PLATFORM_HOLD:
        return f"账号被平台限制：{f.get('reason') or '平台未说明原因'}"
    if k is CauseKind.NEEDS_REAUTH:
        reason = f.get("reason") or "平台拒绝当前授权"
        return reason if reason.startswith("账号授权失效") else f"账号授权失效，需重新授权：{reason}"
    if k is CauseKind.CHANNEL_ERROR:
        times = int(f.get("times", 1))
        return f["error"] if times == 1 else f"{f['error']}（共 {times} 次）"
    if k is CauseKind.AMBIGUOUS:
        return "上次发送结果不明，待与平台核对"
    if k is CauseKind.MANUAL_WAITING:
        return "已通知单位信息员，单位栏目页尚未出现该稿件" + note
    if k is CauseKind.CONFIRMING:
        return "平台已受理，等待平台发布结果" + note
    if k is CauseKind.SENDING:
        return "正在发送"
    if k is CauseKind.QUEUED:
        return "尚未开始发送（排队等待）"
    if k is CauseKind.UPDATED:
        return f"稿件更新后重发，按检测到更新的时间（{_at(f, 'at', tz)}）计"
    if k is CauseKind.BASELINE:
        return f"基线稿件：上游发布于 {_at(f, 'published_at', tz)}，早于本系统开始跟踪该来源，未纳入考核"
    if k is CauseKind.DATE_UNREADABLE:
        raw = _quoted(f.get("raw") or "")
        return f"来源发布时间无法识别（原文：{raw}），按检测时间计" if raw else "来源发布时间无法识别，按检测时间计"
    if k is CauseKind.NO_DATE:
        return "上游未提供发布时间，按检测时间计"
    if k is CauseKind.DATE_IMPLAUSIBLE:
        gap = float(f["gap_hours"])
        why = "晚于检测时间" if gap < 0 else f"早于检测时间 {hours_text(gap)} 小时，超出可信范围"
        return f"上游发布时间不可信，按检测时间计（上游标注 {_at(f, 'published_at', tz)}，{why}）"
    if k is CauseKind.DETECTED_LATE:
        text = f"检测延迟：上游发布于 {_at(f, 'published_at', tz)}，本系统于 {_at(f, 'detected_at', tz)} 发现"
        return text + (f"（来源状况：{_quoted(f['note'])}）" if f.get("note") else "")
    if k is CauseKind.DETECTED_AFTER_DEADLINE:
        return "检测到稿件时已超过截止时间"
    if k is CauseKind.DETECTED_NEAR_DEADLINE:
        return f"检测到稿件时距截止时间仅 {hours_text(float(f['hours']))} 小时"
    if k is CauseKind.FIRST_SEND_LATE:
        return "首次发送时已超过截止时间" + ("（排队积压或系统未运行）" if f.get("backlog") else "")
    if k is CauseKind.POSSIBLE_DUPLICATE:
        return "此前发送结果无法与平台核实，可能重复发布"
    if k is CauseKind.PLATFORM_NOTE:
        return f"平台说明：{f.get('note') or ''}"
    if k is CauseKind.PROVISIONAL:
        return f"截止时间为临时计算：{'、'.join(f'{y}年' for y in f.get('years', ()))}节假日安排未载入"
    if k is CauseKind.VERIFY_NOTE:
        return f"最近一次核验：{f.get('note') or ''}"
    if k is CauseKind.NOT_VERIFIED:
        return "截止时间前未能完成核验"
    return str(f.get("text", ""))          # LEGACY: the earlier record's own words


def reason_text(lead: str, causes: Sequence[DelayCause], tz: Any = SHANGHAI, *, related: bool = False) -> str:
    """A delay record's reason: its lead, then its causes. ``related``: a failed or skipped record, whose lead is
    the reason itself and whose causes are only context (none is said when there are none)."""
    texts = [cause_text(c, tz) for c in causes]
    if related:
        return lead + (RELATED_LEAD + CAUSE_SEP.join(texts) if texts else "")
    return lead + CAUSE_LEAD + CAUSE_SEP.join(texts or [UNKNOWN_CAUSE])


def legacy_causes(reason: str) -> tuple[DelayCause, ...]:
    """The causes of a record written before causes were data: what follows its 原因 lead, as one opaque cause.

    It is kept whole (never split on "；": a quoted fact may contain one); a record that said only that
    nothing was found, or that the delivery was queued or sending, has no cause a later record can reuse."""
    text = reason.partition(CAUSE_LEAD)[2]
    if not text or text in (UNKNOWN_CAUSE, "尚未开始发送（排队等待）", "正在发送"):
        return ()
    return (DelayCause(CauseKind.LEGACY, {"text": text}),)
