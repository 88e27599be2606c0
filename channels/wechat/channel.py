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
instead of posting twice. Right before freepublish/submit a ``submitting`` marker (with the time) is stored
too: if the submit's reply is lost, WeChat cannot be asked by our key, and the draft has left the draft box
("草稿发表后，原草稿将从草稿箱移除"; on a system failure "草稿箱中会保留这份草稿的备份" — 草稿箱功能说明,
https://developers.weixin.qq.com/community/develop/doc/0008424a0a43a892211d59cb351c09). freepublish/batchget lists
only *successful* publications ("获取成功发布列表"), so a job still publishing is invisible: we wait
``lost_submit_wait_s`` for it to appear there, then post anew and record the possible duplicate.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from channels.base import AccountConfig, Channel, ChannelContext, ChannelError, Receipt, RetryLater
from channels.wechat.batch import MassBatcher
from channels.wechat.client import WechatClient
from channels.wechat.errors import mass_outcome, publish_outcome
from channels.wechat.media import WechatMedia
from channels.wechat.render import WechatArticle, rehost, render_article
from core.models import Item, UnitRef

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
    mass_batch_window_s: int = Field(0, ge=0, le=86_400)  # mass_send: wait this long to batch items (0: only when
                                                          # the quota is spent; see channels/wechat/batch.py)
    token_margin_s: int = Field(300, ge=0)
    lost_submit_wait_s: int = Field(1800, ge=0)   # how long a submit whose reply was lost may stay unaccounted for


LOST_SUBMIT_NOTE = "此前一次发表提交的应答丢失且在已发表列表中未找到，已重新发表，可能重复发布"
RECHECK_S = 300.0
# freepublish/batchget: count "a value between 1 and 20", newest first
# (https://developers.weixin.qq.com/doc/service/en/api/public/api_freepublish_batchget)
BATCHGET_COUNT = 20
BATCHGET_PAGES = 5


def _join(*notes: str | None) -> str | None:
    text = "；".join(n for n in notes if n)
    return text or None


@dataclass(frozen=True, slots=True)
class _Resume:
    """What ``publish`` should do when no earlier attempt accounts for the post."""

    media_id: str | None = None          # a draft that was never submitted: submit it as it is
    possible_duplicate: bool = False     # an earlier submit's outcome stayed unknown past the wait


class WechatChannel(Channel):
    kind = "wechat"
    Options = WechatOptions
    # WeChat documents daily, not hourly, quotas: a new account may call 发布能力-发布接口 (freepublish/submit)
    # 100 times a day, and 发布状态轮询接口 / 获取成功发布列表 100 each (API_Call_Limits,
    # https://developers.weixin.qq.com/doc/service/Message_Management/API_Call_Limits.html; 45009 when spent).
    # Each post costs one submit plus its status polls, so 20 an hour is our own pacing: a burst of items cannot
    # spend the whole day's quota in its first hours. Raise rate_per_hour on accounts with a higher quota.
    default_rate_per_hour = 20
    options: WechatOptions

    def __init__(self, account: AccountConfig, ctx: ChannelContext) -> None:
        super().__init__(account, ctx)
        self.client = WechatClient(account, ctx, token_margin_s=self.options.token_margin_s,
                                   mass_period=self.options.mass_quota_period)
        self.media = WechatMedia(self.client)
        self.batcher = MassBatcher(self.client, ctx, account.id, self.options.mass_batch_window_s,
                                   self.options.send_ignore_reprint)

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
        if self.options.mode == "mass_send" and (record.get("batch") or await self._batching()):
            return await self._batched(item, unit, key, record)
        earlier = await self._reconcile(record)
        if isinstance(earlier, Receipt):
            return earlier
        article = self.render(item, unit)
        notes = list(article.notes)
        if earlier.possible_duplicate:
            notes.append(LOST_SUBMIT_NOTE)
        media_id = earlier.media_id
        if media_id is None:
            hosted = await self.media.rehost_all(article.images)
            content, dropped = rehost(article.content, hosted)
            if dropped:
                notes.append(f"{dropped} 张图片未能转存到微信（格式或大小不符），已在正文中提示见原文")
            media_id, draft = await self._add_draft(article, content)
            record = {"media_id": media_id, "source_url": article.content_source_url, "author": article.author,
                      "attempt": int(record.get("attempt", 0)) + 1,
                      **({"draft": draft} if self.options.mode == "mass_send" else {})}
            if earlier.possible_duplicate:
                record["possible_duplicate"] = True
            await self._save(key, record)
        note = _join(*notes)
        if self.options.mode == "mass_send":
            return await self._mass_send(key, record, media_id, note)
        record["submitting"] = self.ctx.clock.now().isoformat()
        await self._save(key, record)
        try:
            body = await self.client.call("freepublish/submit", json_body={"media_id": media_id}, idempotent=False)
        except ChannelError as exc:
            if not (isinstance(exc, RetryLater) and exc.ambiguous):   # WeChat answered: nothing was submitted
                record.pop("submitting", None)
                await self._save(key, record)
            raise
        publish_id = str(body["publish_id"])
        record.pop("submitting", None)
        record["publish_id"] = publish_id
        await self._save(key, record)
        log.info("wechat %s: submitted %s as publish %s", self.account.id, key, publish_id)
        return Receipt(external_id=publish_id, pending=True, note=note,
                       possible_duplicate=bool(record.get("possible_duplicate")))

    async def _add_draft(self, article: WechatArticle, content: str) -> tuple[str, dict[str, object]]:
        for attempt in (1, 2):
            thumb = await self.media.thumb_media_id(self.options.cover_image_url)
            draft = article.draft(content, thumb, need_open_comment=self.options.need_open_comment,
                                  only_fans_can_comment=self.options.only_fans_can_comment)
            body = await self.client.call("draft/add", json_body={"articles": [draft]},
                                          accept=frozenset({40007}) if attempt == 1 else frozenset())
            if body.get("media_id"):
                return str(body["media_id"]), draft
            await self.media.forget_thumb(self.options.cover_image_url)   # cover deleted in the library
        raise AssertionError("unreachable")  # pragma: no cover

    async def _batching(self) -> bool:
        return self.options.mass_batch_window_s > 0 or await self.batcher.open_batch() is not None

    async def _batched(self, item: Item, unit: UnitRef, key: str, record: dict[str, Any]) -> Receipt:
        """群发 together with other items (channels/wechat/batch.py): join the open batch, then its outcome."""
        if not record.get("batch"):
            article = self.render(item, unit)
            content, _dropped = rehost(article.content, await self.media.rehost_all(article.images))
            thumb = await self.media.thumb_media_id(self.options.cover_image_url)
            draft = article.draft(content, thumb, need_open_comment=self.options.need_open_comment,
                                  only_fans_can_comment=self.options.only_fans_can_comment)
            record["batch"] = await self.batcher.join(key, draft)
            await self._save(key, record)
        return await self.batcher.outcome(str(record["batch"]), key)

    async def _mass_send(self, key: str, record: dict[str, Any], media_id: str, note: str | None) -> Receipt:
        client_msg_id = f"{key}-{record.get('attempt', 1)}"[:64]
        try:
            body = await self.client.call("message/mass/sendall", idempotent=False, accept=frozenset({45065}),
                                          json_body={"filter": {"is_to_all": True}, "mpnews": {"media_id": media_id},
                                                     "msgtype": "mpnews", "clientmsgid": client_msg_id,
                                                     "send_ignore_reprint": int(self.options.send_ignore_reprint)})
        except RetryLater as exc:
            if exc.code != 45028 or not record.get("draft"):
                raise
            # Quota spent: this item and every one after it wait for the reset anyway — then go out together.
            when = self.ctx.clock.now() + timedelta(seconds=exc.retry_after or 0)
            record["batch"] = await self.batcher.join(key, record["draft"], send_at=when)
            await self._save(key, record)
            raise RetryLater(f"{exc.reason}；届时与其他待群发稿件合并为一次群发（最多8篇）", exc.detail,
                             retry_after=exc.retry_after, code=exc.code) from None
        if "msg_id" not in body:   # 45065: this clientmsgid was already sent, by an attempt we lost track of
            record["sent"] = client_msg_id
            await self._save(key, record)
            return Receipt(external_id=f"mass:client:{client_msg_id}", deduplicated=True,
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

    async def _reconcile(self, record: dict[str, Any]) -> Receipt | _Resume:
        """What an earlier attempt left: a Receipt (posted or in flight), or how to go on (_Resume).

        Raises RetryLater while a submit whose reply was lost may still show up in the published list.
        """
        external = (f"mass:{record['msg_id']}" if record.get("msg_id") else record.get("publish_id"))
        duplicate = bool(record.get("possible_duplicate"))
        if record.get("sent"):
            return Receipt(external_id=f"mass:client:{record['sent']}", note="此前已群发")
        if external:
            outcome = await self._status(external)
            if outcome is None:
                return Receipt(external_id=external, pending=True, note="此前已提交，继续等待微信结果",
                               possible_duplicate=duplicate)
            if isinstance(outcome, Receipt):
                return dataclasses.replace(outcome, possible_duplicate=outcome.possible_duplicate or duplicate)
            return _Resume()                  # failed before: a person asked to try again
        media_id = record.get("media_id")
        if not media_id:
            return _Resume()
        if self.options.mode == "mass_send":
            return _Resume(str(media_id))     # resend with the same clientmsgid: the platform dedups
        draft = await self.client.call("draft/get", json_body={"media_id": media_id}, accept=frozenset({40007}))
        if draft.get("news_item"):
            return _Resume(str(media_id))     # submit never happened (or was refused): reuse the draft
        found = await self._find_published(record)
        if found is not None:
            return dataclasses.replace(found, possible_duplicate=duplicate)
        if record.get("submitting"):
            return self._lost_submit(record)
        return _Resume(possible_duplicate=duplicate)

    def _lost_submit(self, record: dict[str, Any]) -> _Resume:
        """A submit whose reply was lost, not (yet) in the published list: wait a bounded time, then post anew."""
        since = datetime.fromisoformat(str(record["submitting"]))
        left = self.options.lost_submit_wait_s - (self.ctx.clock.now() - since).total_seconds()
        if left > 0:
            raise RetryLater("微信发表提交的应答丢失，正在核实是否已发表（发表中的文章要完成后才能查到），稍后自动核对",
                             f"wechat {self.account.id}: submit of {record.get('media_id')} unaccounted for, "
                             f"{left:.0f}s of the wait left", retry_after=min(RECHECK_S, left), ambiguous=True)
        log.warning("wechat %s: a lost submit of %s never appeared among publications; posting anew",
                    self.account.id, record.get("media_id"))
        return _Resume(possible_duplicate=True)

    async def _find_published(self, record: dict[str, Any]) -> Receipt | None:
        """The draft left the draft box (published drafts do): look for it among recent publications.

        A few batchget pages cover a busy day. Each page is one call of 获取成功发布列表 (100 a day), spent only
        when a submit's outcome was lost.
        """
        if not record.get("source_url"):
            return None
        for page in range(BATCHGET_PAGES):
            body = await self.client.call("freepublish/batchget", json_body={
                "offset": page * BATCHGET_COUNT, "count": BATCHGET_COUNT, "no_content": 1})
            entries = body.get("item") or []
            for entry in entries:
                found = self._match(record, entry)
                if found is not None:
                    return found
            if len(entries) < BATCHGET_COUNT:
                break
        return None

    @staticmethod
    def _match(record: dict[str, Any], entry: dict[str, Any]) -> Receipt | None:
        for news in (entry.get("content") or {}).get("news_item") or []:
            if news.get("content_source_url") != record["source_url"]:
                continue
            if record.get("author") and news.get("author") not in (None, record["author"]):
                continue                  # the same original reprinted by another unit sharing this account
            return Receipt(external_id=str(entry.get("article_id")), url=news.get("url"),
                           note="发布任务结果未记录，已在已发表列表中找到该文")
        return None

    async def verify(self, unit: UnitRef) -> str:
        """A stable_token fetch in normal mode (never invalidates the token in use): AppID, AppSecret and the IP
        whitelist are accepted; nothing is published."""
        _token, expires_in = await self.client.fetch_token(force=False)
        mode = "群发" if self.options.mode == "mass_send" else "发布（不推送给粉丝）"
        return f"access_token 获取成功（{expires_in} 秒内有效）；发文方式：{mode}"

    async def lookup(self, key: str) -> Receipt | None:
        record = await self._load(key)
        earlier = await self._reconcile(record)
        return earlier if isinstance(earlier, Receipt) else None
