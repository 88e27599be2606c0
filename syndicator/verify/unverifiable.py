"""Channels with nothing public to look at: said so on the record, never counted as verified.

JPush: a notification goes to devices only; the push API has no public page of what was pushed
(https://docs.jiguang.cn/jpush/server/push/rest_api_v3_push — the answer is a msg_id and sendno, nothing a
citizen can open). A webhook receiver returns no public URL unless it says so (then it is checked as a website).
"""

from __future__ import annotations

from syndicator.store.verify import Proof, VerifyTask

PUSH_REASON = "极光推送无公开页面，无法核验"
WEBHOOK_REASON = "接收方未返回公开页面链接，无法核验"


class Unverifiable:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def host(self, task: VerifyTask) -> str:
        return ""

    async def check(self, task: VerifyTask) -> Proof:
        return Proof("unverifiable", reason=self.reason)
