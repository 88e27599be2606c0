"""群发 batching: several items due together go out as one mass send of up to 8 articles.

A subscription account may mass-send once a day (a service account 4 times a month; 45028 when spent — sendall
doc), and one mass send carries one draft of up to 8 articles (draft/add: "图文消息条数限制在8条以内";
https://developers.weixin.qq.com/doc/service/api/draftbox/draftmanage/api_draft_add). So when a unit has more
items due than its quota allows, sending each alone would spend the day's quota on the first and leave the rest a
day late each. Instead items that must wait join one batch (each delivery waits as RetryLater, reason
"等待合并群发"); when its send time comes or 8 have joined, whichever member comes first sends the one draft with
``clientmsgid`` = the batch id (a resend is refused with 45065, so a lost reply cannot make it twice), and every
member's receipt is that mass send's msg_id.

State lives in ``ctx.kv`` (shared by hub processes; changes under a per-account lease):
``wechat:batch-open:<account>`` → the open batch id; ``wechat:batch:<id>`` → {members, send_at, articles,
media_id?, msg_id?}. A member's own record keeps ``batch`` = id.

When: a batch opens when the account's mass-send quota is spent (45028: the item waits for the quota anyway, and
so do all that follow — they go out together when it resets), or, with ``mass_batch_window_s`` > 0, whenever no
batch is open (every item waits up to that long for company).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from channels.base import ChannelContext, Receipt, RetryLater
from channels.wechat.client import WechatClient

MAX_ARTICLES = 8
BATCH_TTL_S = 45 * 86_400
LEASE_S = 30.0
WAITING = "等待合并群发（同一公众号的多篇稿件合为一次群发，最多8篇）"


class MassBatcher:
    def __init__(self, client: WechatClient, ctx: ChannelContext, account_id: str, window_s: float,
                 send_ignore_reprint: bool) -> None:
        self.client, self.ctx, self.account_id = client, ctx, account_id
        self.window_s, self.send_ignore_reprint = window_s, send_ignore_reprint
        self.holder = f"{ctx.holder_id}:{uuid.uuid4().hex[:8]}"

    async def _load(self, batch_id: str) -> dict[str, Any]:
        raw = await self.ctx.kv.get(f"wechat:batch:{batch_id}")
        return json.loads(raw) if raw else {}

    async def _save(self, batch_id: str, batch: dict[str, Any]) -> None:
        await self.ctx.kv.put(f"wechat:batch:{batch_id}", json.dumps(batch, ensure_ascii=False), BATCH_TTL_S)

    async def _locked(self) -> None:
        for _ in range(100):
            if await self.ctx.kv.lease(f"wechat-batch:{self.account_id}", self.holder, LEASE_S):
                return
            await asyncio.sleep(0.05)
        raise RetryLater("等待其他进程处理合并群发，稍后自动重试", f"wechat {self.account_id}: batch lease busy")

    async def _unlock(self) -> None:
        await self.ctx.kv.release(f"wechat-batch:{self.account_id}", self.holder)

    async def open_batch(self) -> str | None:
        """The batch new items of this account join, if one is open."""
        return await self.ctx.kv.get(f"wechat:batch-open:{self.account_id}") or None

    async def join(self, key: str, article: dict[str, Any], send_at: datetime | None = None) -> str:
        """Add this delivery's draft article to the open batch, or open one that goes out at ``send_at`` (default:
        after the window); returns the batch id."""
        await self._locked()
        try:
            open_id = await self.ctx.kv.get(f"wechat:batch-open:{self.account_id}")
            batch = await self._load(open_id) if open_id else {}
            if not batch or len(batch["members"]) >= MAX_ARTICLES or batch.get("closed"):
                open_id = uuid.uuid4().hex[:24]
                when = send_at or self.ctx.clock.now() + timedelta(seconds=self.window_s)
                batch = {"members": [], "articles": [], "send_at": when.isoformat()}
                await self.ctx.kv.put(f"wechat:batch-open:{self.account_id}", open_id, BATCH_TTL_S)
            assert open_id is not None
            batch["members"].append(key)
            batch["articles"].append(article)
            await self._save(open_id, batch)
            return open_id
        finally:
            await self._unlock()

    async def outcome(self, batch_id: str, key: str) -> Receipt:
        """This member's receipt once the batch was sent; otherwise wait for the window, or send it now."""
        batch = await self._load(batch_id)
        if batch.get("msg_id"):
            return self._receipt(batch)
        left = (datetime.fromisoformat(batch["send_at"]) - self.ctx.clock.now()).total_seconds()
        if left > 0 and len(batch["members"]) < MAX_ARTICLES:
            raise RetryLater(WAITING, f"wechat {self.account_id}: batch {batch_id} open {left:.0f}s more",
                             retry_after=left, code="mass_batch")
        await self._locked()
        try:
            batch = await self._load(batch_id)          # another member may have sent it meanwhile
            if batch.get("msg_id"):
                return self._receipt(batch)
            batch["closed"] = True
            await self._save(batch_id, batch)
            if await self.ctx.kv.get(f"wechat:batch-open:{self.account_id}") == batch_id:
                await self.ctx.kv.put(f"wechat:batch-open:{self.account_id}", "", 1)
            return await self._send(batch_id, batch)
        finally:
            await self._unlock()

    async def _send(self, batch_id: str, batch: dict[str, Any]) -> Receipt:
        if not batch.get("media_id"):
            body = await self.client.call("draft/add", json_body={"articles": batch["articles"][:MAX_ARTICLES]})
            batch["media_id"] = str(body["media_id"])
            await self._save(batch_id, batch)
        body = await self.client.call("message/mass/sendall", idempotent=False, accept=frozenset({45065}), json_body={
            "filter": {"is_to_all": True}, "mpnews": {"media_id": batch["media_id"]}, "msgtype": "mpnews",
            "send_ignore_reprint": int(self.send_ignore_reprint), "clientmsgid": batch_id})
        batch["msg_id"] = str(body.get("msg_id") or f"client:{batch_id}")   # 45065: sent by a lost earlier try
        await self._save(batch_id, batch)
        return self._receipt(batch)

    @staticmethod
    def _receipt(batch: dict[str, Any]) -> Receipt:
        n = len(batch["members"])
        note = f"与同一公众号的其他 {n - 1} 篇稿件合并为一次群发" if n > 1 else None
        msg_id = str(batch["msg_id"])
        if msg_id.startswith("client:"):
            return Receipt(external_id=f"mass:{msg_id}", deduplicated=True, note=note)
        return Receipt(external_id=f"mass:{msg_id}", pending=True, note=note)
