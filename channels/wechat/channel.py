"""WechatChannel: reprint an item on a unit's WeChat official account.

publish (default, 发表): re-host body images → cover material → draft/add → freepublish/submit
→ ``Receipt(publish_id, pending=True)``; the outcome comes from ``confirm`` (freepublish/get) or the
PUBLISHJOBFINISH callback. Publishing does not notify followers and has no quota.
mass_send (群发): same draft, then message/mass/sendall to all followers with ``clientmsgid`` derived
from the delivery key, so the platform itself refuses a repeat (45065); quota 1/day (subscription) or
4/month (service account), 45028 when spent.
Docs: https://developers.weixin.qq.com/doc/service/api/draftbox/draftmanage/api_draft_add,
https://developers.weixin.qq.com/doc/service/api/public/api_freepublish_submit,
https://developers.weixin.qq.com/doc/service/api/notify/message/api_sendall

Reconciliation: before submitting we store ``{media_id}`` under the delivery key in ``ctx.kv`` and the
``publish_id`` / ``msg_id`` right after, so ``lookup`` and a repeated ``publish`` can ask the platform
instead of posting twice.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from channels.base import AccountConfig, Channel, ChannelContext, ChannelError, Receipt
from channels.wechat.client import WechatClient
from channels.wechat.errors import mass_outcome, publish_outcome
from channels.wechat.media import WechatMedia
from channels.wechat.render import WechatArticle, rehost, render_article
from syndicator.models import Item, UnitRef

log = logging.getLogger(__name__)
RECORD_TTL_S = 45 * 86400


class WechatOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["publish", "mass_send"] = "publish"
    author: str = ""                         # default: the unit's name (≤ 16 字)
    cover_image_url: str | None = None       # default: a plain red 2.35:1 cover bundled in code
    need_open_comment: bool = False
    only_fans_can_comment: bool = False
    send_ignore_reprint: bool = True         # mass_send: continue when judged a reprint (we are reprinting)
    mass_quota_period: Literal["day", "month"] = "day"   # subscription 1/day, service account 4/month
    token_margin_s: int = Field(300, ge=0)


def _join(*notes: str | None) -> str | None:
    text = "；".join(n for n in notes if n)
    return text or None


class WechatChannel(Channel):
    kind = "wechat"
    Options = WechatOptions
    default_rate_per_hour = 20
    options: WechatOptions

    def __init__(self, account: AccountConfig, ctx: ChannelContext) -> None:
        super().__init__(account, ctx)
        self.client = WechatClient(account, ctx, token_margin_s=self.options.token_margin_s,
                                   mass_period=self.options.mass_quota_period)
        self.media = WechatMedia(self.client)

    def render(self, item: Item, unit: UnitRef) -> WechatArticle:
        return render_article(item, unit, author=self.options.author)

    # -- records --------------------------------------------------------------------------------
    def _record_key(self, key: str) -> str:
        return f"wechat:post:{self.account.id}:{key}"

    async def _load(self, key: str) -> dict[str, Any]:
        raw = await self.ctx.kv.get(self._record_key(key))
        return json.loads(raw) if raw else {}

    async def _save(self, key: str, record: dict[str, Any]) -> None:
        await self.ctx.kv.put(self._record_key(key), json.dumps(record), ttl_seconds=RECORD_TTL_S)

    # -- publish --------------------------------------------------------------------------------
    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        record = await self._load(key)
        earlier = await self._reconcile(record)
        if isinstance(earlier, Receipt):
            return earlier
        article = self.render(item, unit)
        notes = list(article.notes)
        media_id = earlier if isinstance(earlier, str) else None
        if media_id is None:
            hosted = await self.media.rehost_all(article.images)
            content, dropped = rehost(article.content, hosted)
            if dropped:
                notes.append(f"{dropped} 张图片未能转存到微信（格式或大小不符），已在正文中提示见原文")
            media_id = await self._add_draft(article, content)
            record = {"media_id": media_id, "source_url": article.content_source_url,
                      "attempt": int(record.get("attempt", 0)) + 1}
            await self._save(key, record)
        note = _join(*notes)
        if self.options.mode == "mass_send":
            return await self._mass_send(key, record, media_id, note)
        body = await self.client.call("freepublish/submit", json_body={"media_id": media_id}, idempotent=False)
        publish_id = str(body["publish_id"])
        record["publish_id"] = publish_id
        await self._save(key, record)
        log.info("wechat %s: submitted %s as publish %s", self.account.id, key, publish_id)
        return Receipt(external_id=publish_id, pending=True, note=note)

    async def _add_draft(self, article: WechatArticle, content: str) -> str:
        for attempt in (1, 2):
            thumb = await self.media.thumb_media_id(self.options.cover_image_url)
            draft = article.draft(content, thumb, need_open_comment=self.options.need_open_comment,
                                  only_fans_can_comment=self.options.only_fans_can_comment)
            body = await self.client.call("draft/add", json_body={"articles": [draft]},
                                          accept=frozenset({40007}) if attempt == 1 else frozenset())
            if body.get("media_id"):
                return str(body["media_id"])
            await self.media.forget_thumb(self.options.cover_image_url)   # cover deleted in the library
        raise AssertionError("unreachable")  # pragma: no cover

    async def _mass_send(self, key: str, record: dict[str, Any], media_id: str, note: str | None) -> Receipt:
        client_msg_id = f"{key}-{record.get('attempt', 1)}"[:64]
        body = await self.client.call("message/mass/sendall", idempotent=False, accept=frozenset({45065}), json_body={
            "filter": {"is_to_all": True}, "mpnews": {"media_id": media_id}, "msgtype": "mpnews",
            "send_ignore_reprint": int(self.options.send_ignore_reprint), "clientmsgid": client_msg_id})
        if "msg_id" not in body:   # 45065: this clientmsgid was already sent, by an attempt we lost track of
            record["sent"] = client_msg_id
            await self._save(key, record)
            return Receipt(external_id=f"mass:client:{client_msg_id}",
                           note=_join(note, "平台确认该群发此前已提交（clientmsgid 已存在），未重复群发"))
        record["msg_id"] = str(body["msg_id"])
        await self._save(key, record)
        return Receipt(external_id=f"mass:{body['msg_id']}", pending=True, note=note)

    # -- outcome --------------------------------------------------------------------------------
    async def _status(self, external_id: str) -> Receipt | ChannelError | None:
        if external_id.startswith("mass:client:"):
            return Receipt(external_id=external_id)
        if external_id.startswith("mass:"):
            body = await self.client.call("message/mass/get", json_body={"msg_id": external_id[5:]})
            return mass_outcome(external_id, str(body.get("msg_status", "")))
        body = await self.client.call("freepublish/get", json_body={"publish_id": external_id})
        return publish_outcome(external_id, body)

    async def confirm(self, receipt: Receipt) -> Receipt | None:
        outcome = await self._status(receipt.external_id)
        if isinstance(outcome, ChannelError):
            raise outcome
        if outcome is None:
            return None
        return dataclasses.replace(outcome, pending=False, note=_join(receipt.note, outcome.note),
                                   possible_duplicate=receipt.possible_duplicate or outcome.possible_duplicate)

    async def _reconcile(self, record: dict[str, Any]) -> Receipt | str | None:
        """What an earlier attempt left: a Receipt (posted or in flight), a draft media_id to submit, or None."""
        external = (f"mass:{record['msg_id']}" if record.get("msg_id") else record.get("publish_id"))
        if record.get("sent"):
            return Receipt(external_id=f"mass:client:{record['sent']}", note="此前已群发")
        if external:
            outcome = await self._status(external)
            if outcome is None:
                return Receipt(external_id=external, pending=True, note="此前已提交，继续等待微信结果")
            if isinstance(outcome, Receipt):
                return outcome
            return None                       # failed before: a person asked to try again
        media_id = record.get("media_id")
        if not media_id:
            return None
        if self.options.mode == "mass_send":
            return str(media_id)              # resend with the same clientmsgid: the platform dedups
        draft = await self.client.call("draft/get", json_body={"media_id": media_id}, accept=frozenset({40007}))
        if draft.get("news_item"):
            return str(media_id)              # submit never happened: reuse the draft
        return await self._find_published(record)

    async def _find_published(self, record: dict[str, Any]) -> Receipt | None:
        """The draft left the draft box (published drafts do): look for it among recent publications."""
        source = record.get("source_url")
        body = await self.client.call("freepublish/batchget", json_body={"offset": 0, "count": 20, "no_content": 1})
        for entry in body.get("item") or []:
            for news in (entry.get("content") or {}).get("news_item") or []:
                if source and news.get("content_source_url") == source:
                    return Receipt(external_id=str(entry.get("article_id")), url=news.get("url"),
                                   note="发布任务结果未记录，已在已发表列表中找到该文", possible_duplicate=False)
        return None

    async def lookup(self, key: str) -> Receipt | None:
        record = await self._load(key)
        earlier = await self._reconcile(record)
        return earlier if isinstance(earlier, Receipt) else None
