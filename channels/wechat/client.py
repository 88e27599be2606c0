"""A small asyncio client for the WeChat official-account API (aiohttp).

Why not wechatpy's ``WeChatClient``: it is synchronous (requests) with no asyncio support, so every
call would need a worker thread, and its token storage is per-process unless we write a session
adapter anyway. We use wechatpy only where there is no network I/O (signature checks, crypto, XML
parsing, replies — see callback.py) and speak the JSON API directly here.

Access token: ``POST /cgi-bin/stable_token``
(https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken). One holder per
account refreshes, under a ``ctx.kv`` lease, and stores the token in ``ctx.kv`` for everyone with
its ``expires_in`` minus a margin. When a call is answered 40001/40014/42001 we first ask in normal
mode (which returns the platform's current token without invalidating anyone else's); only if that
is the very token that was just rejected do we use ``force_refresh``, then retry the call once. The doc's
注意事项: "强制刷新模式每天限用 20 次且需间隔 30 秒" (and "连续使用该模式时，请保证调用时间隔至少为30s，否则不会
刷新"); the count and the last forced refresh are kept in ``ctx.kv`` per AppID, shared by every process, and a
refresh the platform would refuse is not attempted (RetryLater until it would be allowed).

Bodies: JSON is sent as raw UTF-8 (``ensure_ascii=False``, as wechatpy's ``BaseWeChatClient._request`` does).
aiohttp's ``json=`` escapes every Chinese character as ``\\uXXXX``, which WeChat answers with 40033
"不合法的请求字符，不能包含\\uxxxx格式的字符" (global return codes) and the draft/add doc forbids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from channels.base import AccountConfig, ChannelContext, RetryLater
from channels.failures import BadReply, Platform, safe_to_repeat
from channels.wechat.errors import TOKEN_INVALID, errcode, error_for, next_midnight, seconds_until
from core.clock import SHANGHAI

log = logging.getLogger(__name__)
DEFAULT_BASE_URL = "https://api.weixin.qq.com"
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
FormFactory = Callable[[], aiohttp.FormData]
FORCE_REFRESH_PER_DAY = 20        # getStableAccessToken 注意事项: 强制刷新模式每天限用 20 次且需间隔 30 秒
FORCE_REFRESH_GAP_S = 30.0
JSON_UTF8 = "application/json; charset=utf-8"
WECHAT = Platform("微信", api="微信接口", sent_note="（请求可能已到达微信，将先核对再重试）")


def encode_json(body: Mapping[str, Any]) -> bytes:
    """A JSON request body as WeChat wants it: raw UTF-8, never ``\\uXXXX`` escapes (40033)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WechatClient:
    RETRY_WAIT_S: ClassVar[float] = 0.5      # tenacity backoff base for in-call retries
    LEASE_TTL_S: ClassVar[float] = 15.0
    LEASE_WAIT_S: ClassVar[float] = 10.0
    POLL_S: ClassVar[float] = 0.05

    def __init__(self, account: AccountConfig, ctx: ChannelContext, *, token_margin_s: int = 300,
                 mass_period: str = "day") -> None:
        self.account = account
        self.ctx = ctx
        self.base_url = (account.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.token_margin_s = token_margin_s
        self.mass_period = mass_period
        self.holder = f"{ctx.holder_id}:{uuid.uuid4().hex[:12]}"
        self._refresh_lock = asyncio.Lock()

    @property
    def appid(self) -> str:
        return self.account.secret("appid")

    @property
    def token_key(self) -> str:
        return f"wechat:token:{self.appid}"

    # -- access token -----------------------------------------------------------------------------
    async def access_token(self, *, rejected: str | None = None) -> str:
        """The shared token; ``rejected`` is one the platform just refused (never returned again)."""
        kv = self.ctx.kv
        cached = await kv.get(self.token_key)
        if cached and cached != rejected:
            return cached
        deadline = asyncio.get_running_loop().time() + self.LEASE_WAIT_S
        lease = f"wechat-token:{self.appid}"
        while True:
            async with self._refresh_lock:        # one refresh per instance; the lease covers processes
                cached = await kv.get(self.token_key)
                if cached and cached != rejected:
                    return cached
                if await kv.lease(lease, self.holder, self.LEASE_TTL_S):
                    try:
                        return await self._refresh(rejected)
                    finally:
                        await kv.release(lease, self.holder)
            await asyncio.sleep(self.POLL_S)
            cached = await kv.get(self.token_key)
            if cached and cached != rejected:
                return cached
            if asyncio.get_running_loop().time() > deadline:
                raise RetryLater("等待其他进程刷新微信 access_token 超时，稍后自动重试",
                                 f"wechat {self.account.id}: token lease held elsewhere")

    async def _refresh(self, rejected: str | None) -> str:
        token, expires_in = await self.fetch_token(force=False)
        if token == rejected:
            await self._spend_force_refresh()
            token, expires_in = await self.fetch_token(force=True)
        ttl = expires_in - min(self.token_margin_s, expires_in // 2)
        await self.ctx.kv.put(self.token_key, token, ttl_seconds=max(ttl, 30))
        return token

    async def _spend_force_refresh(self) -> None:
        """Count one forced refresh, or raise RetryLater when the platform would not allow one now."""
        now = self.ctx.clock.now()
        key = f"wechat:force-refresh:{self.appid}"
        raw = await self.ctx.kv.get(key)
        record = json.loads(raw) if raw else {}
        today = now.astimezone(SHANGHAI).date().isoformat()
        count = int(record.get("count", 0)) if record.get("day") == today else 0
        if count >= FORCE_REFRESH_PER_DAY:
            raise RetryLater("今日强制刷新微信 access_token 的次数已用完（每天 20 次），将于北京时间零点后自动重试",
                             f"wechat {self.account.id}: {count} forced refreshes today",
                             retry_after=seconds_until(next_midnight(now), now), code="force_refresh_quota")
        if record.get("last"):
            since = (now - datetime.fromisoformat(record["last"])).total_seconds()
            if 0 <= since < FORCE_REFRESH_GAP_S:
                raise RetryLater("微信 access_token 刚刚强制刷新过（两次须间隔 30 秒），稍后自动重试",
                                 f"wechat {self.account.id}: forced refresh {since:.0f}s ago",
                                 retry_after=FORCE_REFRESH_GAP_S - since, code="force_refresh_gap")
        await self.ctx.kv.put(key, json.dumps({"day": today, "count": count + 1, "last": now.isoformat()}),
                              ttl_seconds=2 * 86400)

    async def fetch_token(self, *, force: bool) -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": self.appid,
                "secret": self.account.secret("appsecret"), "force_refresh": force}
        data = await self._send("POST", "stable_token", None, json_body=body, idempotent=True)
        if errcode(data) or not data.get("access_token"):
            raise self._error(data, "stable_token", token_endpoint=True)
        log.info("wechat %s: fetched access_token (force=%s, expires_in=%s)", self.account.id, force,
                 data.get("expires_in"))
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    # -- calls ------------------------------------------------------------------------------------
    async def call(self, path: str, *, json_body: Mapping[str, Any] | None = None,
                   query: Mapping[str, str] | None = None, form: FormFactory | None = None,
                   idempotent: bool = True, accept: frozenset[int] = frozenset()) -> dict[str, Any]:
        """POST ``/cgi-bin/{path}``; returns the JSON body or raises a typed ChannelError.

        Codes in ``accept`` are returned to the caller instead of raised.
        """
        token = await self.access_token()
        data = await self._send("POST", path, token, json_body=json_body, query=query, form=form,
                                idempotent=idempotent)
        if errcode(data) in TOKEN_INVALID:
            log.warning("wechat %s: %s answered %s; refreshing token once", self.account.id, path, errcode(data))
            token = await self.access_token(rejected=token)
            data = await self._send("POST", path, token, json_body=json_body, query=query, form=form,
                                    idempotent=idempotent)
        code = errcode(data)
        if code and code not in accept:
            raise self._error(data, path)
        return data

    def _error(self, data: Mapping[str, Any], api: str, *, token_endpoint: bool = False) -> Exception:
        return error_for(data, api=api, now=self.ctx.clock.now(), token_endpoint=token_endpoint,
                         mass_period=self.mass_period)

    async def _send(self, method: str, path: str, token: str | None, *, json_body: Mapping[str, Any] | None = None,
                    query: Mapping[str, str] | None = None, form: FormFactory | None = None,
                    idempotent: bool = True) -> dict[str, Any]:
        params = dict(query or {})
        if token:
            params["access_token"] = token
        retrying = AsyncRetrying(
            stop=stop_after_attempt(3),
            wait=wait_exponential(multiplier=self.RETRY_WAIT_S, max=4),
            retry=retry_if_exception(lambda e: safe_to_repeat(e, idempotent=idempotent)),
            reraise=True,
        )
        # A non-idempotent call (freepublish/submit, mass/sendall) that may have reached WeChat: its outcome is
        # unknown, so the hub reconciles (WechatChannel.lookup) before anything is sent again.
        with WECHAT.calling(sends=not idempotent, detail=f"wechat {path}", code="network"):
            async for attempt in retrying:
                with attempt:
                    return await self._once(method, path, params, json_body, form)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, path: str, params: dict[str, str], json_body: Mapping[str, Any] | None,
                    form: FormFactory | None) -> dict[str, Any]:
        url = f"{self.base_url}/cgi-bin/{path}"
        data: Any = None
        headers: dict[str, str] = {}
        if form is not None:
            data = form()
        elif json_body is not None:
            data, headers = encode_json(json_body), {"Content-Type": JSON_UTF8}
        async with self.ctx.session.request(
            method, url, params=params, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            if resp.status >= 500 or resp.status == 429:
                raise BadReply(resp.status, "no answer read")
            raw = await resp.content.read(MAX_RESPONSE_BYTES + 1)
            status = resp.status
        if status >= 400:
            raise WECHAT.http_status(status, f"wechat {path}: HTTP {status}")
        try:
            body = json.loads(raw)
        except ValueError:
            raise BadReply(status, f"non-JSON answer ({len(raw)} bytes)") from None
        if not isinstance(body, dict):
            raise BadReply(status, "JSON answer is not an object")
        return body
