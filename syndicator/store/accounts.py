"""Account states (active, paused, needs_reauth, platform_hold) and holding or releasing an account's open work."""

from __future__ import annotations

from datetime import datetime

from core.models import BODY_HOLD_PREFIX
from syndicator.store.base import StoreBase


class AccountsMixin(StoreBase):
    async def account_states(self) -> dict[str, tuple[str, str | None]]:
        rows = await self.db.fetch("SELECT account_id, state, reason FROM accounts")
        return {r["account_id"]: (r["state"], r["reason"]) for r in rows}

    async def set_account_state(self, account_id: str, state: str, reason: str | None, now: datetime) -> None:
        """state: active | paused (by a person) | needs_reauth (credentials rejected) | platform_hold (the platform
        restricts the account: IP confirmation, frozen, banned)."""
        await self.db.execute(
            "INSERT INTO accounts (account_id, state, reason, changed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,"
            " changed_at = excluded.changed_at", account_id, state, reason, now)

    async def hold_account(self, account_id: str, now: datetime, reason: str) -> int:
        """Hold every open delivery of an account (paused, or credentials need a person)."""
        return await self.db.execute(
            "UPDATE deliveries SET state = 'held', last_error = ?, updated_at = ?"
            " WHERE account_id = ? AND state IN ('pending', 'retrying')", reason, now, account_id)

    async def release_account(self, account_id: str, now: datetime) -> int:
        """Resume an account. Deliveries held for their item's body (正文提取异常) stay held: resuming
        the account does not make the body right; a person retries them one by one."""
        return await self.db.execute(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = NULL, updated_at = ?"
            " WHERE account_id = ? AND state = 'held' AND (last_error IS NULL OR last_error NOT LIKE ?)",
            now, account_id, BODY_HOLD_PREFIX + "%")
