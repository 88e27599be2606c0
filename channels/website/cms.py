"""The website channel through a CMS REST adapter: a signed, idempotent JSON POST per reprint.

Government CMSs share no common API (docs/platforms.md), so this is our own small contract, implemented by each site's
adapter (and by ``sandbox/cms.py``):

``POST {base_url}/api/reprints`` with body ``{key, title, content_html, source_url, origin, credit, published_at,
column, sent_at}`` (``credit`` is the 转载自 … line; with ``source_url`` and ``origin`` it lets the site show the
source even when ``include_footer = false`` leaves it out of the body) and headers
- ``X-Idempotency-Key: <key>`` — the delivery's key; the same on every retry,
- ``X-Timestamp: <unix seconds>`` — also in the body as ``sent_at``, so the signature covers it (replay guard),
- ``X-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` (the scheme of GitHub's X-Hub-Signature-256).
Answers ``201 {id, url}`` when created, ``200 {id, url}`` when the key already exists, 401/403 bad signature
or credentials, 400/409/422 rejected content, 429 with ``Retry-After``, 5xx trouble.

``GET {base_url}/api/reprints?key=<key>`` (signed over the raw query string) answers ``200 {id, url}`` or 404.
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from datetime import UTC, datetime
from html import escape
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from channels.base import AccountConfig, Channel, ChannelContext, PermanentError, Receipt, RetryLater
from channels.failures import TRANSPORT, Platform
from channels.pages import remember_page
from channels.retrying import retry_call
from channels.signing import sign
from channels.wire import Members, json_object, members
from core.content import MEMO_ITEMS, sanitize, source_footer_html, source_line
from core.http_headers import parse_retry_after
from core.models import Item, UnitRef

REPRINTS_PATH = "/api/reprints"
EXISTING_NOTE = "CMS 已存在相同幂等键的稿件"
CMS = Platform("网站 CMS", api="网站 CMS 接口", credentials="密钥")


class CmsOptions(BaseModel):
    """``account.options`` of a CMS account; credential ``secret`` signs the requests."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)          # the CMS column (栏目) code the reprint goes into
    column_url: str | None = Field(None, pattern=r"^https?://")   # the column's public page (核验 looks there)
    include_footer: bool = True                # append 转载自 … 原文链接 to the body (credit fields are always sent)
    connect_retries: int = Field(2, ge=0, le=5)
    timeout_s: float = Field(30.0, gt=0)


def render_article(item: Item, options: CmsOptions) -> dict[str, Any]:
    """The request body without ``key`` and ``sent_at`` (pure)."""
    return _article(item, options.include_footer, options.column)


def _article(item: Item, include_footer: bool, column: str) -> dict[str, Any]:
    body = sanitize(item.content, item.url) if item.content.strip() else ""
    if not body and item.summary:
        body = f"<p>{escape(item.summary)}</p>"
    if include_footer:
        body += source_footer_html(item)
    return {
        "title": item.title.strip(), "content_html": body, "source_url": item.url,
        "origin": item.origin or item.authority, "credit": source_line(item), "column": column,
        "published_at": item.published_at.isoformat() if item.published_at else None,
    }


@functools.lru_cache(maxsize=MEMO_ITEMS)
def _article_members(item: Item, include_footer: bool, column: str) -> Members:
    """Encoded once per item and column: every unit's account of a city gets the same article."""
    return members(_article(item, include_footer, column))


class CmsChannel(Channel):
    kind: ClassVar[str] = "cms"
    Options: ClassVar[type[CmsOptions]] = CmsOptions
    default_rate_per_hour: ClassVar[int | None] = None   # our own adapter; it says 429 when it must

    options: CmsOptions

    def __init__(self, account: AccountConfig, ctx: ChannelContext) -> None:
        super().__init__(account, ctx)
        if not account.base_url:
            raise ValueError(f"cms account {account.id}: base_url (the CMS adapter's root URL) is required")
        self.base_url = account.base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=self.options.timeout_s)

    def render(self, item: Item, unit: UnitRef) -> dict[str, Any]:
        return render_article(item, self.options)

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        sent_at = int(time.time())      # wire freshness stamp: real time, not the hub's (maybe fake) clock
        raw = json_object({"key": key}, _article_members(item, self.options.include_footer, self.options.column),
                          {"sent_at": sent_at})
        headers = self._headers(raw, sent_at) | {"Content-Type": "application/json", "X-Idempotency-Key": key}
        status, data, retry_after = await self._request("POST", self.base_url + REPRINTS_PATH, raw, headers)
        if status in (200, 201):   # 200: the CMS already has this key and created nothing (our own contract)
            receipt = self._receipt(data, EXISTING_NOTE if status == 200 else None, deduplicated=status == 200)
            await remember_page(self.ctx.kv, self.kind, unit.id, item, receipt.url)   # the Weibo post links it
            return receipt
        raise self._error(status, data, retry_after)

    async def verify(self, unit: UnitRef) -> str:
        """A signed lookup of a key no article has: the CMS accepting the signature answers 404 (our contract)."""
        await self.lookup(f"syndicator-verify-{uuid.uuid4().hex}")
        return "签名凭据被网站 CMS 接受（查询接口应答正常，未发布）"

    async def lookup(self, key: str) -> Receipt | None:
        query = "key=" + quote(key, safe="")
        sent_at = int(time.time())
        url = f"{self.base_url}{REPRINTS_PATH}?{query}"
        status, data, retry_after = await self._request("GET", url, None, self._headers(query.encode(), sent_at))
        if status == 200:
            return self._receipt(data, "CMS 中已存在该稿件")
        if status == 404:
            return None
        raise self._error(status, data, retry_after)

    def _headers(self, signed: bytes, sent_at: int) -> dict[str, str]:
        return {"X-Timestamp": str(sent_at), "X-Signature": sign(self.account.secret("secret"), signed)}

    async def _request(self, method: str, url: str, raw: bytes | None,
                       headers: dict[str, str]) -> tuple[int, Any, float | None]:
        # The POST is idempotent on X-Idempotency-Key, so a dropped connection or a timeout may be retried here,
        # and a RetryLater after it is not ambiguous: the next attempt cannot create a second article.
        async def once() -> tuple[int, Any, float | None]:
            async with self.ctx.session.request(method, url, data=raw, headers=headers, timeout=self.timeout) as resp:
                text = await resp.text(errors="replace")
                return resp.status, _json(text), parse_retry_after(resp.headers.get("Retry-After"), datetime.now(UTC))

        with CMS.calling(sends=False, detail=f"cms {method}"):
            return await retry_call(once, self.options.connect_retries + 1, on=TRANSPORT)
        raise AssertionError("unreachable")  # pragma: no cover

    def _receipt(self, data: Any, note: str | None, *, deduplicated: bool = False) -> Receipt:
        if not isinstance(data, dict) or data.get("id") in (None, ""):
            raise RetryLater("渠道故障：网站 CMS 应答缺少稿件 ID", "2xx without id")
        return Receipt(external_id=str(data["id"]), url=data.get("url") or None, note=note, deduplicated=deduplicated,
                       raw=data)

    def _error(self, status: int, data: Any, retry_after: float | None) -> Exception:
        message = str(data.get("error") or data.get("message") or "")[:200] if isinstance(data, dict) else ""
        detail = f"cms HTTP {status}: {message}"
        if status in (400, 409, 422):      # our contract: the content itself is refused
            return PermanentError(f"网站 CMS 拒收稿件（HTTP {status}）：{message or '未说明原因'}", detail, code=status)
        return CMS.http_status(status, detail, message=message, retry_after=retry_after)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


