"""Who may do what: the three roles shared by the dashboard users and the WeChat console's admins.

- ``admin`` (管理员): everything, including what changes how the hub counts (confirming a holiday
  arrangement, correcting an upstream publication time);
- ``operator`` (操作员): the everyday actions on deliveries and accounts (retry, skip, pause, resume);
- ``inspector`` (检查员): read-only — pages, reports, evidence and exports, no action at all.

A plain user entry (a password hash alone, an OpenID alone in ``[console] admins``) stays an admin, as it
was before roles existed.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "operator", "inspector"]
ROLES: tuple[Role, ...] = ("admin", "operator", "inspector")
ROLE_LABELS: dict[str, str] = {"admin": "管理员", "operator": "操作员", "inspector": "检查员"}
_RANK = {"inspector": 0, "operator": 1, "admin": 2}

# the least role that may take each action; an action not listed needs an admin
ACTIONS: dict[str, Role] = {
    "read": "inspector",
    "retry": "operator", "skip": "operator", "pause": "operator", "resume": "operator",
    "bulk": "operator", "alert_ack": "operator", "silence": "operator", "silence_end": "operator",
    "check_source": "operator",
    "calendar_confirm": "admin", "correct_time": "admin",
}
ACTION_LABELS = {"retry": "重试", "skip": "跳过", "pause": "暂停", "resume": "恢复",
                 "calendar_confirm": "确认日历", "correct_time": "更正发布时间", "bulk": "批量操作",
                 "alert_ack": "确认提醒", "silence": "静音提醒", "silence_end": "结束静音", "check_source": "立即检查"}


def allows(role: str, action: str) -> bool:
    """True when ``role`` may take ``action`` (an unknown role may do nothing, an unknown action needs admin)."""
    if role not in _RANK:
        return False
    return _RANK[role] >= _RANK[ACTIONS.get(action, "admin")]


def refusal(role: str, action: str) -> str:
    """Why ``role`` may not take ``action``, in the operator's words."""
    what = ACTION_LABELS.get(action, "此操作")
    if role == "inspector":
        return f"您的账号是检查员（只读），可以查看页面、报表和证据，不能执行“{what}”。"
    need = ROLE_LABELS[ACTIONS.get(action, "admin")]
    return f"“{what}”需要{need}权限，您的账号是{ROLE_LABELS.get(role, role)}。"
