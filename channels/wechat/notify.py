"""Push the hub's alerts to the console admins on the WeChat official account.

Two APIs, both verified on the official docs (2026):
- Customer-service text message, ``POST /cgi-bin/message/custom/send`` with
  ``{"touser", "msgtype": "text", "text": {"content"}}``
  (https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage). Allowed only
  for 48 h after the user last wrote to the account, 5 messages per such window (the doc's table; older
  community reports say 20). Outside it: 45015 "response out of time limit or subscription is canceled";
  quota spent: 45047 "out of response count limit"
  (https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html).
  The text limit is undocumented; community tests put it at 2048 bytes (UTF-8), we send at most 2000.
- Template message, ``POST /cgi-bin/message/template/send`` with ``{"touser", "template_id",
  "data": {"key": {"value"}}, "client_msg_id"}`` → ``{"errcode": 0, "msgid"}``
  (https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage). Since the
  May 2023 template rules ``first``/``remark`` are dropped and every key has a typed limit (``thing`` ≤ 20
  characters, ``character_string`` ≤ 32, ``phrase`` ≤ 5, ``time`` like "2026年11月25日 10:00"); a value
  over its limit is refused with 47003. ``client_msg_id`` makes one openid + id send once (10 min), so a
  retried template call cannot duplicate.

Policy: custom message first; on 45015/45047 fall back to the template (when a template id is set).
Pushes are best-effort: ``notify`` queues and returns at once, errors are logged, never raised, and never
fed back into the hub's alert path. Bursts collapse: per admin at most one push per ``min_interval_s``;
alerts inside the interval are held and sent once, as a count plus the latest few.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from channels.base import AccountConfig, ChannelContext, ChannelError
from channels.wechat.client import WechatClient
from channels.wechat.errors import errcode
from core.clock import SHANGHAI

log = logging.getLogger(__name__)
CUSTOM_SEND = "message/custom/send"
TEMPLATE_SEND = "message/template/send"
WINDOW_CLOSED = frozenset({45015, 45047})          # custom messages not allowed now: use the template
MAX_TEXT_BYTES = 2000
DEFAULT_TEMPLATE_FIELDS: dict[str, str] = {"thing1": "{message}", "time2": "{time}"}
_VALUE_LIMITS = {"thing": 20, "const": 20, "character_string": 32, "number": 32, "letter": 32, "phrase": 5,
                 "name": 10}
_KEY_KIND = re.compile(r"^([a-z_]+?)\d*$")
_SHOWN = 3                                          # held alerts quoted in a collapsed push


def mask_openid(openid: str) -> str:
    """An OpenID fit for logs and replies: only its last 4 characters."""
    return f"…{openid[-4:]}" if openid else "…"


def clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes on a character boundary, marked with an ellipsis."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[:limit - 3].decode("utf-8", "ignore") + "…"       # "…" is 3 bytes


def template_value(key: str, text: str) -> str:
    """One template value: single-line, within the limit of its key's type (thing1 → 20 characters)."""
    flat = " ".join(text.split())
    match = _KEY_KIND.match(key)
    limit = _VALUE_LIMITS.get(match.group(1)) if match else None
    if limit is not None and len(flat) > limit:
        return flat[:limit - 1] + "…"
    return flat


@dataclass
class _Lane:
    """One admin's push state."""

    last_sent: float | None = None                  # loop time of the last push started
    held: deque[str] = field(default_factory=lambda: deque(maxlen=_SHOWN))
    held_count: int = 0
    timer: asyncio.Task[None] | None = None


class WechatAdminNotifier:
    def __init__(self, client: WechatClient, admins: Sequence[str], template_id: str | None = None, *,
                 template_fields: Mapping[str, str] | None = None, template_url: str | None = None,
                 min_interval_s: float = 60.0) -> None:
        self.client = client
        self.admins = list(dict.fromkeys(a for a in admins if a))
        self.template_id = template_id or None
        self.template_fields = dict(template_fields or DEFAULT_TEMPLATE_FIELDS)
        self.template_url = template_url
        self.min_interval_s = min_interval_s
        self._lanes: dict[str, _Lane] = {a: _Lane() for a in self.admins}
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent: dict[str, int] = {"custom": 0, "template": 0, "failed": 0}

    @classmethod
    def for_account(cls, account: AccountConfig, ctx: ChannelContext, admins: Sequence[str],
                    template_id: str | None = None, **kwargs: Any) -> WechatAdminNotifier:
        """A notifier with its own client for ``account`` (the access token is still the shared one)."""
        return cls(WechatClient(account, ctx), admins, template_id, **kwargs)

    async def notify(self, message: str) -> None:
        """Queue ``message`` for every admin; returns at once and never raises."""
        try:
            loop = asyncio.get_running_loop()
            now = loop.time()
            for admin, lane in self._lanes.items():
                if lane.timer is None and (lane.last_sent is None or now - lane.last_sent >= self.min_interval_s):
                    lane.last_sent = now
                    self._spawn(self._push(admin, message))
                    continue
                lane.held.append(message)
                lane.held_count += 1
                if lane.timer is None:
                    wait = (lane.last_sent or now) + self.min_interval_s - now
                    lane.timer = self._spawn(self._flush_later(admin, lane, wait))
        except Exception:                                    # pragma: no cover - defensive: alerts must flow
            log.exception("admin notifier: could not queue an alert")

    async def drain(self) -> None:
        """Wait for pushes in flight and held pushes (tests; orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Drop held pushes and cancel what is in flight."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_later(self, admin: str, lane: _Lane, wait: float) -> None:
        await asyncio.sleep(max(0.0, wait))
        messages, count = list(lane.held), lane.held_count
        lane.held.clear()
        lane.held_count = 0
        lane.last_sent = asyncio.get_running_loop().time()
        lane.timer = None
        await self._push(admin, collapsed_text(messages, count), count=count)

    async def _push(self, admin: str, text: str, *, count: int = 1) -> None:
        who = mask_openid(admin)
        try:
            body = {"touser": admin, "msgtype": "text", "text": {"content": clip_bytes(text, MAX_TEXT_BYTES)}}
            data = await self.client.call(CUSTOM_SEND, json_body=body, idempotent=False, accept=WINDOW_CLOSED)
            code = errcode(data)
            if code == 0:
                self.sent["custom"] += 1
                log.info("admin notifier: custom message sent to %s", who)
                return
            if self.template_id is None:
                self.sent["failed"] += 1
                log.warning("admin notifier: %s cannot get custom messages now (errcode %s) and no"
                            " alert_template_id is set; alert not pushed", who, code)
                return
            await self._template(admin, text, count)
            self.sent["template"] += 1
            log.info("admin notifier: template message sent to %s (custom window closed, errcode %s)", who, code)
        except ChannelError as exc:
            self.sent["failed"] += 1
            log.warning("admin notifier: push to %s failed: %s", who, exc.detail or exc.reason)
        except Exception as exc:
            self.sent["failed"] += 1
            log.warning("admin notifier: push to %s failed: %s", who, type(exc).__name__)

    async def _template(self, admin: str, text: str, count: int) -> None:
        now = self.client.ctx.clock.now().astimezone(SHANGHAI)
        values = {"message": text, "count": str(count),
                  "time": f"{now.year}年{now.month}月{now.day}日 {now:%H:%M}"}
        data = {key: {"value": template_value(key, fmt.format_map(_Default(values)))}
                for key, fmt in self.template_fields.items()}
        body: dict[str, Any] = {"touser": admin, "template_id": self.template_id, "data": data,
                                "client_msg_id": uuid.uuid4().hex}
        if self.template_url:
            body["url"] = self.template_url
        await self.client.call(TEMPLATE_SEND, json_body=body, idempotent=True)


class _Default(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def collapsed_text(messages: list[str], count: int) -> str:
    """One push for alerts held during the quiet interval."""
    if count == 1 and messages:
        return messages[0]
    lines = [f"【告警汇总】刚才又有 {count} 条告警，最近 {len(messages)} 条："]
    lines += [f"{i}. {m}" for i, m in enumerate(reversed(messages), 1)]
    lines.append("发送“延误”或“待办”查看详情。")
    return clip_bytes("\n".join(lines), MAX_TEXT_BYTES)
