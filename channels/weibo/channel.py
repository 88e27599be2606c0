"""The Weibo channel: one unit's government Weibo account posting through statuses/share."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from channels.base import AccountConfig, Channel, ChannelContext, Receipt
from channels.weibo.client import (
    ACCEPTED_SLOW,
    DUPLICATE_CODES,
    RATE_CODES,
    Picture,
    WeiboApiError,
    WeiboClient,
    to_channel_error,
)
from channels.weibo.render import WeiboOptions, WeiboPost, render_post
from syndicator.models import Item, UnitRef

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.weibo.com"
DUPLICATE_NOTE = "微博平台判定为重复内容，视为已发布"
RECEIPT_TTL_S = 30 * 86_400
SLOW_NOTE = "微博平台提示发布成功但显示有延迟（20032），视为已发布"
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
          (b"GIF87a", "image/gif", "gif"), (b"GIF89a", "image/gif", "gif"))


class WeiboChannel(Channel):
    kind: ClassVar[str] = "weibo"
    Options: ClassVar[type[WeiboOptions]] = WeiboOptions
    # "发微博：单用户每应用 30次/小时" (https://open.weibo.com/wiki/Rate-limiting, every authorisation level
    # from 测试 to 普通; higher levels allow more, set rate_per_hour on the account).
    default_rate_per_hour: ClassVar[int | None] = 30

    options: WeiboOptions

    def __init__(self, account: AccountConfig, ctx: ChannelContext) -> None:
        super().__init__(account, ctx)
        self.client = WeiboClient(ctx.session, account.base_url or DEFAULT_BASE_URL,
                                  timeout_s=self.options.timeout_s, connect_retries=self.options.connect_retries)

    def render(self, item: Item, unit: UnitRef) -> WeiboPost:
        return render_post(item, unit, self.options)

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        post = self.render(item, unit)             # PermanentError before anything is sent
        token = self.account.secret("access_token")
        notes: list[str] = []
        if post.truncated:
            notes.append("标题过长已截短")
        pic = None
        if post.image_url and self.options.attach_image:
            pic = await self._fetch_picture(post.image_url)
            if pic is None:
                notes.append("配图未能附加")
        try:
            body = await self.client.share(token, post.status, self.options.rip, pic)
        except WeiboApiError as exc:
            if exc.code in DUPLICATE_CODES:
                # Weibo refuses the same or a similar text again: the post is already there (our earlier
                # attempt, or a person posted it by hand). Record it as delivered with the reason.
                return Receipt(external_id=f"duplicate:{key}", note=_join([DUPLICATE_NOTE, *notes]),
                               deduplicated=True)
            if exc.code == ACCEPTED_SLOW:
                return Receipt(external_id=f"accepted:{key}", note=_join([SLOW_NOTE, *notes]))
            reset_in = await self.client.rate_limit_reset(token) if exc.code in RATE_CODES else None
            raise to_channel_error(exc, now=self.ctx.clock.now(), reset_in=reset_in) from None
        status_id = str(body.get("idstr") or body.get("id") or "")
        if not status_id:
            log.warning("weibo account %s: success body without id", self.account.id)
            return Receipt(external_id=f"unknown:{key}", note=_join(["微博应答缺少微博 ID", *notes]))
        url = self.options.status_url_template.format(id=status_id, mid=body.get("mid", status_id))
        try:   # the post exists now: a failing record must not turn it into a failure (and a repost)
            await self.ctx.kv.put(self._kv_key(key), json.dumps({"id": status_id, "url": url}), RECEIPT_TTL_S)
        except Exception:
            log.warning("weibo account %s: could not keep the receipt for reconciliation", self.account.id,
                        exc_info=True)
        return Receipt(external_id=status_id, url=url, note=_join(notes), published_at=created_at(body),
                       raw=body)

    async def lookup(self, key: str) -> Receipt | None:
        """Weibo cannot be asked whether a post with our key exists.

        statuses/share takes no client key, and the timeline APIs (statuses/user_timeline) return only a
        handful of the user's latest posts to ordinary apps. We keep the status id in ``ctx.kv`` the moment
        Weibo answers, which reconciles a crash after that point; otherwise NotImplementedError, the hub
        retries, and a repeat of the same text is answered 20019/20017/20111, recorded as delivered.
        """
        raw = await self.ctx.kv.get(self._kv_key(key))
        if raw is None:
            raise NotImplementedError("Weibo has no lookup by idempotency key and no local record exists")
        record = json.loads(raw)
        return Receipt(external_id=record["id"], url=record.get("url"), note="据本地发布记录确认已发布")

    def _kv_key(self, key: str) -> str:
        return f"weibo:{self.account.id}:{key}"

    async def _fetch_picture(self, url: str) -> Picture | None:
        """Download the first body image (≤ max_image_bytes, JPEG/PNG/GIF); None when it cannot be used."""
        limit = self.options.max_image_bytes
        try:
            async with self.ctx.session.get(url, timeout=aiohttp.ClientTimeout(total=20)) as resp:
                if resp.status != 200:
                    return None
                if resp.content_length is not None and resp.content_length > limit:
                    return None
                data = await resp.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError):
            return None
        if len(data) > limit:
            return None                              # "上传图片大小限制为<5M"
        for magic, content_type, ext in _MAGIC:
            if data.startswith(magic):
                name = urlsplit(url).path.rsplit("/", 1)[-1] or f"image.{ext}"
                return Picture(data, name if "." in name else f"{name}.{ext}", content_type)
        return None                                  # "仅支持JPEG、GIF、PNG图片"


def created_at(body: dict[str, Any]) -> datetime | None:
    """The status's ``created_at`` ("Tue May 31 17:46:55 +0800 2011", the status object of
    https://open.weibo.com/wiki/2/statuses/share; same form in YaoZeyuan/stablog
    src/type/namespace/new_weibo_api_com.d.ts): Weibo's own publish time; None when absent or unreadable."""
    try:
        return datetime.strptime(str(body["created_at"]), "%a %b %d %H:%M:%S %z %Y")
    except (KeyError, ValueError):
        return None


def _join(notes: list[str]) -> str | None:
    return "；".join(notes) or None
