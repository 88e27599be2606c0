"""Reaching a manual unit's people: WeChat customer-service message, e-mail, WeCom / DingTalk robots.

E-mail and robots are the senders of ``channels.notify`` (shared with the alert path). WeChat goes through
the console's official account, as the admin alert push does (channels/wechat/notify.py documents the APIs):
a customer-service text message (``message/custom/send``) inside the 48 h window, else the template message
(``message/template/send``) when ``[console] alert_template_id`` is set; outside the window without a template
the send fails visibly (45015 / 45047).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from channels.base import AccountConfig, ChannelContext, ChannelError, PermanentError
from channels.manual.options import Contact
from channels.notify import Notifier
from channels.notify.email import SmtpMailer
from channels.notify.robots import DINGTALK_BASE, WECOM_BASE, DingtalkRobot, WecomRobot
from channels.wechat.client import WechatClient
from channels.wechat.errors import errcode
from channels.wechat.notify import (
    CUSTOM_SEND,
    DEFAULT_TEMPLATE_FIELDS,
    MAX_TEXT_BYTES,
    TEMPLATE_SEND,
    WINDOW_CLOSED,
    clip_bytes,
    mask_openid,
    template_value,
)
from core.clock import SHANGHAI


class WechatOpenIdSender:
    """One follower of the console account, by OpenID."""

    kind = "wechat"

    def __init__(self, client: WechatClient, openid: str, template_id: str | None = None,
                 template_fields: Mapping[str, str] | None = None) -> None:
        self.client, self.openid = client, openid
        self.template_id = template_id or None
        self.template_fields = dict(template_fields or DEFAULT_TEMPLATE_FIELDS)

    def describe(self) -> str:
        return f"微信 {mask_openid(self.openid)}"

    async def send(self, title: str, text: str) -> None:
        body = {"touser": self.openid, "msgtype": "text",
                "text": {"content": clip_bytes(f"{title}\n{text}", MAX_TEXT_BYTES)}}
        data = await self.client.call(CUSTOM_SEND, json_body=body, idempotent=False, accept=WINDOW_CLOSED)
        code = errcode(data)
        if code == 0:
            return
        if self.template_id is None:
            raise PermanentError(f"微信客服消息窗口已关闭（{code}）且未配置模板消息，无法通知 {self.describe()}",
                                 f"custom message refused with {code}, no alert_template_id", code=code)
        now = self.client.ctx.clock.now().astimezone(SHANGHAI)
        when = f"{now.year}年{now.month}月{now.day}日 {now:%H:%M}"
        values = {"message": f"{title} {text}", "count": "1", "time": when}
        data_fields = {k: {"value": template_value(k, fmt.format_map(_Default(values)))}
                       for k, fmt in self.template_fields.items()}
        await self.client.call(TEMPLATE_SEND, json_body={"touser": self.openid, "template_id": self.template_id,
                                                         "data": data_fields, "client_msg_id": uuid.uuid4().hex})


class _Default(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Reach:
    """How the hub reaches people outside the channels: mail server, robot roots, console WeChat account."""

    smtp: Any = None                                  # channels.notify.email.SmtpSettings
    wecom_base_url: str = WECOM_BASE
    dingtalk_base_url: str = DINGTALK_BASE
    wechat_account: AccountConfig | None = None       # the console account the OpenIDs belong to
    template_id: str | None = None
    template_fields: Mapping[str, str] | None = None


def notifiers_for(contact: Contact, account: AccountConfig, ctx: ChannelContext, reach: Reach) -> list[Notifier]:
    """Every way to reach ``contact``; a way that cannot work (no mail server, no console account) is an error."""
    out: list[Notifier] = []
    if contact.openid:
        if reach.wechat_account is None:
            raise PermanentError("已配置信息员微信 OpenID，但没有可用的微信公众号（[console] account）",
                                 f"account {account.id}: openid contact without a console WeChat account")
        out.append(WechatOpenIdSender(WechatClient(reach.wechat_account, ctx), contact.openid, reach.template_id,
                                      reach.template_fields))
    if contact.email:
        if reach.smtp is None:
            raise PermanentError("已配置信息员邮箱，但未配置邮件服务器（[notify.smtp]）",
                                 f"account {account.id}: email contact without [notify.smtp]")
        out.append(SmtpMailer(reach.smtp, contact.email))
    if contact.wecom_credential:
        out.append(WecomRobot(ctx.session, account.secret(contact.wecom_credential), reach.wecom_base_url))
    if contact.dingtalk_credential:
        secret = account.secret(contact.dingtalk_secret_credential) if contact.dingtalk_secret_credential else ""
        out.append(DingtalkRobot(ctx.session, account.secret(contact.dingtalk_credential), secret,
                                 reach.dingtalk_base_url))
    return out


async def send_all(notifiers: Sequence[Notifier], title: str, text: str) -> tuple[list[str], list[ChannelError]]:
    """Send through every way at once; returns (ways that accepted, errors of the others)."""
    results = await asyncio.gather(*(n.send(title, text) for n in notifiers), return_exceptions=True)
    sent: list[str] = []
    errors: list[ChannelError] = []
    for n, r in zip(notifiers, results, strict=True):
        if isinstance(r, ChannelError):
            errors.append(r)
        elif isinstance(r, BaseException):
            errors.append(PermanentError(f"通过{n.describe()}发送失败", repr(r)))
        else:
            sent.append(n.describe())
    return sent, errors
