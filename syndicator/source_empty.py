"""The "empty" health state: a source that reads fine but lists nothing is as blind as a failing one.

A wrong selector or JSON path that still matches an (empty) container, a JavaScript shell whose list
is filled by script, an API answering ``[]``: each poll "succeeds" with zero entries, and the delay
log then shows nothing late while nothing is watched. So a successful poll is also judged by what
it listed:

- zero entries where the previous read listed some → empty (the list emptied or the layout moved);
- no entry in any of the first ``empty_after_polls`` successful polls → empty (never worked).

Entering the state raises an alert like a failing source; leaving it (entries again) sends a
recovery notice. A poll answered 304 / unchanged body lists what it listed before, so it counts as a
poll but changes nothing else. The state lives in the store (``sources`` columns, migration 7) so
`sources list`, the dashboard and every hub process see it.
"""

from __future__ import annotations

from datetime import datetime

from core.models import SourceHealth


def health_state(h: SourceHealth | None) -> str:
    """``unknown`` (never polled), ``failing``, ``empty`` or ``ok``."""
    if h is None or (h.last_success_at is None and not h.consecutive_errors):
        return "unknown"
    if h.consecutive_errors:
        return "failing"
    return "empty" if h.empty_since is not None else "ok"


def judge(h: SourceHealth, name: str, listed: int | None, after_polls: int, now: datetime) -> str | None:
    """Record one successful poll that listed ``listed`` entries (None: body unchanged). Returns the
    alert to raise (entering or leaving "empty"), or None."""
    h.polls += 1
    if listed is not None:
        previous = h.last_listed
        h.last_listed = listed
        if listed:
            h.ever_listed = True
            if h.empty_since is not None:
                h.empty_since, h.empty_reason = None, None
                return f"来源恢复：{name} 重新读取到 {listed} 条"
            return None
        if previous:
            return _enter(h, now, f"{name} 本次读取到 0 条，上次有 {previous} 条：列表被清空或页面结构已变，"
                                  "请核对选择器 / JSON 路径")
    if not h.ever_listed and h.polls >= after_polls and h.empty_since is None:
        return _enter(h, now, f"{name} 已成功读取 {h.polls} 次却从未得到任何条目：列表地址、选择器或 JSON 路径"
                              "可能有误，或页面是由脚本填充的空壳")
    return None


def _enter(h: SourceHealth, now: datetime, reason: str) -> str | None:
    already = h.empty_since is not None
    h.empty_since, h.empty_reason = h.empty_since or now, reason
    return None if already else f"来源无内容：{reason}"
