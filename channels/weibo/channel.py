"""The Weibo channel: one unit's government Weibo account posting through statuses/share."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp

from channels.base import AccountConfig, Channel, ChannelContext, PermanentError, Receipt, RetryLater
from channels.pages import reprint_page
from channels.weibo.client import (
    ACCEPTED_SLOW,
    DUPLICATE_CODES,
    DUPLICATE_MEANINGS,
    RATE_CODES,
    Picture,
    WeiboApiError,
    WeiboClient,
    to_channel_error,
)
from channels.weibo.render import WeiboOptions, WeiboPost, render_post
from channels.weibo.tokens import current_token, remember_expiry
from core.models import Item, UnitRef

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

    def render(self, item: Item, unit: UnitRef, page_url: str | None = None) -> WeiboPost:
        return render_post(item, unit, self.options, page_url)

    def _own_page_kind(self, unit: UnitRef) -> str | None:
        """The website channel whose page the post links (static export over CMS; channels/pages.py), or None
        when the unit has none or the link template does not ask for it."""
        template = self.options.link_template
        if template is not None and "{page_url}" not in template:
            return None
        return self.ctx.extra.get("website_units", {}).get(unit.id)

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        page_url = None
        if (kind := self._own_page_kind(unit)) is not None:
            page_url = await reprint_page(self.ctx.kv, kind, unit.id, item)
            if page_url is None:
                raise RetryLater("等待本单位网站转载页发布后再发微博（微博链接指向该页）",
                                 f"weibo {self.account.id}: no reprint page yet for item {item.id}",
                                 retry_after=self.options.page_wait_s, code="page_pending")
        post = self.render(item, unit, page_url)   # PermanentError before anything is sent
        token = await current_token(self.ctx, self.account)
        notes: list[str] = []
        if post.truncated:
            notes.append("标题过长已截短")
        pic = None
        if post.image_url and self.options.attach_image:
            pic = await self._fetch_picture(post.image_url)
            if pic is None:
                notes.append("配图未能附加")
        sent_before = await self.ctx.kv.get(self._sent_key(key)) == "1"
        await self.ctx.kv.put(self._sent_key(key), "1", RECEIPT_TTL_S)   # this attempt may reach Weibo
        try:
            body = await self.client.share(token, post.status, self.options.rip, pic)
        except WeiboApiError as exc:
            if exc.code == ACCEPTED_SLOW:
                return Receipt(external_id=f"accepted:{key}", note=_join([SLOW_NOTE, *notes]))
            if not sent_before:         # Weibo answered: this attempt posted nothing
                await self.ctx.kv.put(self._sent_key(key), "0", RECEIPT_TTL_S)
            if exc.code in DUPLICATE_CODES:
                return self._duplicate(exc.code, key, sent_before, notes)
            reset_in = await self.client.rate_limit_reset(token) if exc.code in RATE_CODES else None
            raise to_channel_error(exc, now=self.ctx.clock.now(), reset_in=reset_in) from None
        except RetryLater as exc:
            if not exc.ambiguous and not sent_before:    # the connection never opened: nothing reached Weibo
                await self.ctx.kv.put(self._sent_key(key), "0", RECEIPT_TTL_S)
            raise
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

    async def token_expiry(self) -> datetime:
        """When the token ends, from oauth2/get_token_info (also kept for the dashboard); ChannelError if refused."""
        try:
            info = await self.client.token_info(await current_token(self.ctx, self.account))
        except WeiboApiError as exc:
            raise to_channel_error(exc, now=self.ctx.clock.now()) from None
        return await remember_expiry(self.ctx, self.account.id, float(info.get("expire_in") or 0))

    async def verify(self, unit: UnitRef) -> str:
        """oauth2/get_token_info: the token is valid and how long it has left; nothing is posted."""
        days = (await self.token_expiry() - self.ctx.clock.now()).total_seconds() / 86_400
        return f"授权有效，约 {days:.1f} 天后到期"

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

    def _sent_key(self, key: str) -> str:
        """"1" while an attempt of this delivery may have reached Weibo (sent, answer lost or not yet read)."""
        return f"weibo-sent:{self.account.id}:{key}"

    def _duplicate(self, code: int, key: str, sent_before: bool, notes: list[str]) -> Receipt:
        """Weibo already has this (or a similar) text: ours only if an earlier attempt may have reached it."""
        if sent_before:
            return Receipt(external_id=f"duplicate:{key}", note=_join([DUPLICATE_NOTE, *notes]), deduplicated=True)
        raise PermanentError(
            f"微博判定为重复内容（{code} {DUPLICATE_MEANINGS[code]}），但本投递此前没有发出过：微博上的相同或相似内容"
            "不是本系统所发（可能是人工发布或其他稿件），请人工核对后跳过或修改后重发",
            f"weibo {self.account.id}: {code} on a first attempt of {key}", code=code)

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
