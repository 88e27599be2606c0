"""Generic signed webhook: a JSON POST any client-app backend can receive.

Signature: ``X-Syndicator-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` — the same
scheme GitHub uses for ``X-Hub-Signature-256``; the body carries ``sent_at`` so the signature
covers the time too. ``Idempotency-Key`` names the delivery (same value on every retry), so a
receiver can drop repeats. An optional ``lookup_url`` (``GET ?key=…`` → 200 {id, url} | 404)
lets the hub reconcile a send that was interrupted instead of sending blind.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from channels.base import Channel, Receipt, RetryLater
from channels.failures import Platform
from channels.retrying import retry_call
from channels.signing import sign, verify_signature
from channels.wire import Members, json_object, members
from core.content import MEMO_ITEMS, source_footer_html, source_line, to_text
from core.http_headers import parse_retry_after
from core.models import Item, UnitRef

__all__ = ["KEY_HEADER", "SIGNATURE_HEADER", "WebhookChannel", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Syndicator-Signature"
KEY_HEADER = "Idempotency-Key"
# Dropping repeats is optional for a receiver, so a request that may have reached it is ambiguous.
RECEIVER = Platform("接收方", api="接收方接口", sent_note="（接收方可能已收到，重试前先核对）", credentials="共享密钥")


class WebhookOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    lookup_url: str | None = Field(None, pattern=r"^https?://")
    timeout_seconds: float = Field(20, gt=0)


class WebhookChannel(Channel):
    kind = "webhook"
    Options = WebhookOptions

    @functools.cached_property
    def timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.options.timeout_seconds)

    def render(self, item: Item, unit: UnitRef) -> dict[str, Any]:
        return {"unit": {"id": unit.id, "name": unit.name}, "item": _item_fields(item)}

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        # {"key", "unit", "item", "sent_at"}: the item part is encoded once for every unit it goes to.
        body = json_object({"key": key, "unit": {"id": unit.id, "name": unit.name}}, _item_members(item),
                           {"sent_at": self.ctx.clock.now().isoformat()})
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            KEY_HEADER: key,
            SIGNATURE_HEADER: sign(self.account.secret("secret"), body),
        }


        async def once() -> Receipt:
            async with self.ctx.session.post(self.options.url, data=body, headers=headers,
                                             timeout=self.timeout) as resp:
                text = await resp.text()
                return self._outcome(resp.status, resp.headers, text, key)

        # Repeated at once only when the connection never opened.
        with RECEIVER.calling(sends=True, detail="webhook POST"):
            return await retry_call(once, 3, wait_s=0.2, max_wait_s=2)
        raise AssertionError("unreachable")  # pragma: no cover

    def _outcome(self, status: int, headers: Any, text: str, key: str) -> Receipt:
        if 200 <= status < 300:
            data = _json_or_empty(text)
            # Not Receipt.deduplicated: dropping repeats is optional for a receiver ("can"), and its "duplicate"
            # flag is advisory, so a blind resend stays recorded as a possible duplicate.
            return Receipt(external_id=str(data.get("id") or key), url=data.get("url"),
                           note="接收方已有该稿件（幂等键重复）" if data.get("duplicate") else None, raw=data)
        detail = f"webhook {self.options.url} answered HTTP {status}: {text[:200]}"
        raise RECEIVER.http_status(status, detail, retry_after=parse_retry_after(headers.get("Retry-After")))

    async def verify(self, unit: UnitRef) -> str:
        """A lookup of a key nothing was sent under (needs ``lookup_url``): the receiver answering it is reachable."""
        if not self.options.lookup_url:
            raise NotImplementedError("no lookup_url: the webhook can only be checked by sending")
        await self.lookup(f"syndicator-verify-{uuid.uuid4().hex}")
        return "接收方查询接口应答正常（未发送）"

    async def lookup(self, key: str) -> Receipt | None:
        if not self.options.lookup_url:
            raise NotImplementedError
        lookup_url = self.options.lookup_url
        with RECEIVER.calling(sends=False, detail="webhook lookup"):
            async with self.ctx.session.get(lookup_url, params={"key": key}, timeout=self.timeout) as resp:
                status, text = resp.status, await resp.text()
        if status == 404:
            return None
        if status != 200:     # whatever it is, a lookup that did not answer proves nothing either way: ask again
            raise RetryLater(f"接收方核对接口不可用（HTTP {status}）", text[:200], code=status)
        data = _json_or_empty(text)
        return Receipt(external_id=str(data.get("id") or key), url=data.get("url"))


def _item_fields(item: Item) -> dict[str, Any]:
    return {
        "title": item.title,
        "url": item.url,
        "origin": item.origin,
        "authority": item.authority,
        "published_at": item.published_at.isoformat() if item.published_at else None,
        "summary": item.summary or to_text(item.content)[:200],
        "content_html": item.content + source_footer_html(item),
        "source_line": source_line(item),
        "images": list(item.images),
    }


@functools.lru_cache(maxsize=MEMO_ITEMS)
def _item_members(item: Item) -> Members:
    return members({"item": _item_fields(item)})


def _json_or_empty(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
