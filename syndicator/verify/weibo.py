"""Weibo: ask the API for the post itself (statuses/show), with the account's own token.

Public evidence: https://open.weibo.com/wiki/2/statuses/show (GET, ``id``; the status object, ``visible.type``
0 = 普通微博 seen by everyone, other values = private / group-only) and the Error_code table
(https://open.weibo.com/wiki/Error_code: 20101 "Target weibo does not exist" — deleted by the author or taken
down). The proof keeps the JSON answer. A token problem is a failed check (retried), never "not visible".
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.base import ChannelError
from channels.weibo.client import NOT_EXIST, SHOW_PATH, WeiboApiError
from channels.weibo.tokens import current_token
from syndicator.store.verify import Proof, VerifyTask
from syndicator.verify.base import api_proof, normalise

VISIBLE_TO_ALL = 0


class WeiboChecker:
    def __init__(self, channel: Any) -> None:
        self.channel = channel          # channels.weibo.channel.WeiboChannel: its client, context and account

    def host(self, task: VerifyTask) -> str:
        return urlsplit(self.channel.client.base_url).hostname or "weibo"

    async def check(self, task: VerifyTask) -> Proof:
        url = self.channel.client.base_url + SHOW_PATH
        status_id = task.external_id or ""
        if not status_id.isdigit():
            return Proof("error", url=url,
                         reason=f"平台未返回微博 ID（{status_id or '空'}），无法调用 statuses/show 核验")
        try:
            token = await current_token(self.channel.ctx, self.channel.account)
            body = await self.channel.client.show(token, status_id)
        except WeiboApiError as exc:
            answer = {"error_code": exc.code, "error": str(exc)}
            if exc.code == NOT_EXIST:
                return api_proof("absent", url, exc.http_status, answer, f"微博 {status_id} 已不存在"
                                 f"（{NOT_EXIST} Target weibo does not exist：已删除或被平台删除）")
            return api_proof("error", url, exc.http_status, answer,
                             f"微博接口拒绝核验请求（错误码 {exc.code}），稍后重试")
        except ChannelError as exc:
            return Proof("error", url=url, reason=f"微博接口暂不可用：{exc}")
        visible = (body.get("visible") or {}).get("type", VISIBLE_TO_ALL)
        if visible != VISIBLE_TO_ALL:
            return api_proof("absent", url, 200, body, f"微博 {status_id} 存在但不公开（visible.type = {visible}）")
        want, text = normalise(task.title), normalise(str(body.get("text") or ""))
        if want[:12] and want[:12] not in text:      # a long title is cut in the post: its first words must be there
            return api_proof("absent", url, 200, body, f"微博 {status_id} 存在，但正文中没有该稿件标题")
        return api_proof("seen", url, 200, body, f"微博 {status_id} 公开可见（statuses/show）",
                         matched=f"微博 ID：{status_id}")
