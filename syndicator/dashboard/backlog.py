"""A blocked account's backlog, shown as such.

When an account is paused by a person or its credentials are rejected, the dispatcher holds the open
deliveries it has (``store.hold_account``) and stops claiming for it (its account gates, ``Dispatcher.pause``, from the
``accounts`` table). Items that arrive later stay ``pending`` in the database but will not be sent until
someone acts, so on every page they read as 暂存 / 已暂停 with the account's reason and the way out —
never as an ordinary 待发送 with an empty error column.
"""

from __future__ import annotations

from typing import Any

from core.models import Delivery
from syndicator.labels import WAITING_STATES

# account state -> the way out for its waiting deliveries (how they read: syndicator.labels.blocked_label)
WAY_OUT = {"needs_reauth": "请重新授权该账号（按平台要求更新授权），完成后点“恢复”，暂存的稿件会重新排队发送。",
           "paused": "账号已被人工暂停；确认可以继续发送后点“恢复”。"}
CAUSE = {"needs_reauth": "账号授权失效", "paused": "账号已暂停"}
WAITING = WAITING_STATES                           # what a blocked account keeps back (not sending/confirming)

Blocked = dict[str, tuple[str, str]]               # account -> (state, reason)


async def blocked_accounts(store: Any) -> Blocked:
    """Accounts that are not active, with the reason recorded when they were paused or lost authorisation."""
    return {a: (st, reason or "") for a, (st, reason) in (await store.account_states()).items() if st != "active"}


def blocked_state(d: Delivery, blocked: Blocked) -> tuple[str, str] | None:
    """(account state, reason) when this delivery is kept back by its account, else None."""
    if d.state in WAITING and d.account_id in blocked:
        return blocked[d.account_id]
    return None


def blocked_problem(state: str, reason: str) -> str:
    """The error column of a kept-back row: why, then what to do."""
    cause = CAUSE.get(state, "账号不可用")
    return f"{cause}：{reason or '未记录原因'}。{WAY_OUT.get(state, WAY_OUT['needs_reauth'])}"


async def held_total(store: Any, counts: dict[str, int]) -> int:
    """Deliveries kept back: those held, plus pending/retrying ones of blocked accounts (arrived later)."""
    return counts.get("held", 0) + await store.waiting_on_blocked_accounts()
