"""The client-app channel: a JPush v3 notification to the devices tagged with the unit."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import zlib
from datetime import datetime, timedelta
from typing import Any, ClassVar

from channels.base import AccountConfig, Channel, ChannelContext, Receipt, RetryLater
from channels.push.client import NO_TARGET, RATE_CODES, VALIDATE_PATH, JPushApiError, JPushClient, to_channel_error
from channels.push.render import (
    VENDOR_NAMES,
    JPushOptions,
    audience_tag,
    full_alert,
    open_url,
    render_push,
    unclassified_vendors,
)
from core.content import sample_item
from core.models import Item, UnitRef

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.jpush.cn"
NO_TARGET_NOTE = "无推送对象：没有设备绑定该单位的受众标签（极光 1011），已按配置视为已发布"
RECEIPT_TTL_S = 30 * 86_400
# The AppKey block is checked before every push; a read this recent is answered again. Another hub's block is
# then seen within a second, and a push meanwhile just meets JPush's own 429, which is handled the same way.
BLOCK_RECHECK_S = 1.0


class JPushChannel(Channel):
    kind: ClassVar[str] = "push"
    Options: ClassVar[type[JPushOptions]] = JPushOptions
    # JPush meters calls per AppKey per minute (plan dependent) and answers 429 + X-Rate-Limit-Reset, which we
    # honour; the hub needs no cap of its own. Several units often share one AppKey (one city app), so a spent
    # window is remembered per AppKey in ctx.kv and every account on it waits (see _blocked_for).
    # Vendor channels' per-device daily caps are not API errors.
    default_rate_per_hour: ClassVar[int | None] = None

    options: JPushOptions

    def __init__(self, account: AccountConfig, ctx: ChannelContext) -> None:
        super().__init__(account, ctx)
        self.client = JPushClient(ctx.session, account.base_url or DEFAULT_BASE_URL,
                                  timeout_s=self.options.timeout_s, connect_retries=self.options.connect_retries)

    def render(self, item: Item, unit: UnitRef) -> dict[str, Any]:
        return render_push(item, unit, self.options)

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        # sendno is "纯粹用来作为 API 调用标识，API 返回时被原样返回": derived from the key for correlation.
        payload = render_push(item, unit, self.options, sendno=zlib.crc32(key.encode()) & 0x7FFFFFFF)
        app_key, secret = self.account.secret("app_key"), self.account.secret("master_secret")
        wait = await self._blocked_for(app_key)
        if wait is not None:
            raise RetryLater("渠道故障：极光推送接口限流（该 AppKey 本时间窗口额度已用完）",
                             f"AppKey window spent, {wait:.0f}s left", retry_after=wait, code=2002)
        try:
            reply = await self.client.push(app_key, secret, payload)
        except JPushApiError as exc:
            if exc.code == NO_TARGET:
                return self._no_target(unit, exc)
            if (exc.code in RATE_CODES or exc.http_status == 429) and exc.reset_s:
                await self._block(app_key, exc.reset_s)
            raise to_channel_error(exc) from None
        msg_id = str(reply.body["msg_id"])
        opens = open_url(item, unit, self.options)    # the page the notification opens: where a reader lands
        shortened = payload["notification"]["alert"] != full_alert(item, self.options)
        try:   # the push went out: a failing record must not turn it into a failure (and a second push)
            await self.ctx.kv.put(self._kv_key(key), json.dumps({"msg_id": msg_id, "url": opens}), RECEIPT_TTL_S)
        except Exception:
            log.warning("push account %s: could not keep the receipt for reconciliation", self.account.id,
                        exc_info=True)
        if reply.remaining == 0 and reply.reset_s:
            await self._block(app_key, reply.reset_s)          # that was the window's last call
        notes = ["推送标题已按平台限制截短"] if shortened else []
        if "android" in self.options.platform and (missing := unclassified_vendors(self.options)):
            notes.append(f"未配置厂商通道消息分类（{'、'.join(VENDOR_NAMES[v] for v in missing)}），"
                         "这些品牌的安卓手机可能收不到，请在 third_party_channel 中配置")
        return Receipt(external_id=msg_id, url=opens, note="；".join(notes) or None, raw=reply.body)

    # -- the AppKey's rate-limit window, shared by every account and hub on it ------------------------------
    async def _blocked_for(self, app_key: str) -> float | None:
        """Seconds this AppKey's window stays spent, or None when calls may be made."""
        try:
            raw = await self.ctx.kv.get(_block_key(app_key), max_age_s=BLOCK_RECHECK_S)
        except Exception:
            log.warning("push account %s: rate-limit record unreadable; pushing anyway", self.account.id,
                        exc_info=True)
            return None
        if raw is None:
            return None
        left = (datetime.fromisoformat(raw) - self.ctx.clock.now()).total_seconds()
        return left if left > 0 else None

    async def _block(self, app_key: str, seconds: float) -> None:
        """Best effort: without the record each account just meets the 429 itself."""
        until: datetime = self.ctx.clock.now() + timedelta(seconds=seconds)
        try:
            await self.ctx.kv.put(_block_key(app_key), until.isoformat(), ttl_seconds=seconds)
        except Exception:
            log.warning("push account %s: could not record the spent rate-limit window", self.account.id,
                        exc_info=True)

    def _no_target(self, unit: UnitRef, exc: JPushApiError) -> Receipt:
        """1011 "没有满足条件的推送目标": no device carries the unit's tag.

        Default ("fail"): PermanentError. Retrying cannot help, and a notification that reached nobody is not a
        reprint; recording it as delivered would show inspectors a green tick for a post nobody could see and
        hide a wrong tag template. A unit whose app has genuinely no subscribers yet can set
        ``on_no_target = "note"`` to record it as delivered with the note 无推送对象.
        """
        if self.options.on_no_target == "note":
            return Receipt(external_id=f"no-target:{audience_tag(unit, self.options)}", note=NO_TARGET_NOTE)
        raise to_channel_error(exc)

    async def verify(self, unit: UnitRef) -> str:
        """POST /v3/push/validate: "只用于验证推送调用是否能够成功，与推送 API 的区别在于：不向用户发送任何消息"
        (Push API v3, 推送校验 API) — the credentials and a push to the unit's tag, nothing sent."""
        payload = render_push(sample_item(), unit, self.options)
        try:
            await self.client.push(self.account.secret("app_key"), self.account.secret("master_secret"), payload,
                                   path=VALIDATE_PATH)
        except JPushApiError as exc:
            if exc.code == 1011:
                return f"凭据有效，但没有设备带有受众标签“{audience_tag(unit, self.options)}”（1011），推送将无人收到"
            raise to_channel_error(exc) from None
        return f"凭据有效，推送到受众标签“{audience_tag(unit, self.options)}”的校验通过（未发送）"

    async def lookup(self, key: str) -> Receipt | None:
        """JPush cannot be searched by our key (the Report API needs the msg_id); answer from our own record.

        The msg_id is kept in ``ctx.kv`` as soon as JPush answers, so a crash between that answer and the hub's
        bookkeeping is reconciled. Without a record the outcome is unknown: NotImplementedError.
        """
        raw = await self.ctx.kv.get(self._kv_key(key))
        if raw is None:
            raise NotImplementedError("JPush has no lookup by idempotency key and no local record exists")
        record = json.loads(raw)
        return Receipt(external_id=str(record["msg_id"]), url=record.get("url"), note="据本地推送记录确认已推送")

    def _kv_key(self, key: str) -> str:
        return f"jpush:{self.account.id}:{key}"


@functools.lru_cache(maxsize=64)
def _block_key(app_key: str) -> str:
    """The kv key of an AppKey's spent window (the AppKey itself is a credential: hashed, never stored)."""
    return "jpush:blocked:" + hashlib.sha256(app_key.encode()).hexdigest()[:16]
