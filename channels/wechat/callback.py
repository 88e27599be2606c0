"""The hub's WeChat server URL: ``GET/POST /wechat/callback/{account_id}``.

Protocol (https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html,
.../Message_Management/Receiving_standard_messages.html, .../Publish/Callback_on_finish.html):
GET verifies the server (echo ``echostr``); POST carries messages and events, in safe mode
(``encrypt_type=aes``) inside ``<Encrypt>`` signed by ``msg_signature``. WeChat waits 5 s, then retries
three times: we de-duplicate by MsgId (events: FromUserName + CreateTime, plus the event's own id) and
never await slow work — publish results are scheduled, a text reply gets at most ``reply_timeout_s``.

wechatpy compares signatures with ``!=``; we check them ourselves with ``hmac.compare_digest`` and use
wechatpy only for what has no network I/O (``WeChatCrypto``, ``parse_message``, ``create_reply``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import xmltodict
from aiohttp import web
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto

from channels.base import AccountConfig, ChannelError, KeyValue, Receipt
from channels.wechat.errors import mass_outcome, publish_outcome

log = logging.getLogger(__name__)
PublishResultHandler = Callable[[str, str, Receipt | ChannelError], Awaitable[None]]
TextHandler = Callable[[str, str, str], Awaitable[str | None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024
SUCCESS = "success"


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], given: str) -> bool:
    return hmac.compare_digest(sign(*expected_parts).encode(), given.encode())


class _LocalSeen:
    """In-process stand-in for the ``seen`` KeyValue (only get/put are used)."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[str, float]] = {}

    async def get(self, key: str, max_age_s: float = 0) -> str | None:
        value = self.data.get(key)
        return value[0] if value and value[1] > time.monotonic() else None

    async def put(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        now = time.monotonic()
        if len(self.data) > 10_000:
            self.data = {k: v for k, v in self.data.items() if v[1] > now}
        self.data[key] = (value, now + (ttl_seconds or 300))

    async def lease(self, name: str, holder: str, ttl_seconds: float) -> bool:  # pragma: no cover
        return True


def _dedupe_key(account_id: str, data: Mapping[str, Any]) -> str:
    if data.get("MsgId"):
        return f"wechat:cb:{account_id}:{data['MsgId']}"
    info = data.get("PublishEventInfo") or {}
    extra = info.get("publish_id") if isinstance(info, Mapping) else None
    parts = (data.get("FromUserName"), data.get("CreateTime"), data.get("Event"), extra or data.get("MsgID"))
    return f"wechat:cb:{account_id}:" + ":".join(str(p or "") for p in parts)


def _article_url(data: Mapping[str, Any]) -> str | None:
    result = (data.get("ArticleUrlResult") or {}).get("ResultList") or {}
    item = result.get("item") if isinstance(result, Mapping) else None
    if isinstance(item, list):
        item = item[0] if item else None
    return item.get("ArticleUrl") if isinstance(item, Mapping) else None


def _cdata_safe(text: str) -> str:
    return text.replace("]]>", "]]]]><![CDATA[>")


def make_wechat_callback(
    accounts: Mapping[str, AccountConfig],
    on_publish_result: PublishResultHandler,
    on_text: TextHandler | None = None,
    seen: KeyValue | None = None,
    *,
    reply_timeout_s: float = 4.0,
    dedupe_ttl_s: float = 600.0,
) -> Handler:
    """The aiohttp handler for both GET and POST on ``/wechat/callback/{account_id}``."""
    store: Any = seen if seen is not None else _LocalSeen()
    tasks: set[asyncio.Task[Any]] = set()

    def schedule(coro: Awaitable[Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("wechat callback: %s failed: %r", what, t.exception())

        task.add_done_callback(done)
        return task

    def forbidden() -> web.Response:
        return web.Response(status=403, text="forbidden")

    async def handler(request: web.Request) -> web.StreamResponse:
        account_id = request.match_info.get("account_id", "")
        account = accounts.get(account_id)
        token = account.credentials.get("token") if account is not None and account.kind == "wechat" else None
        if account is None or token is None:
            raise web.HTTPNotFound()
        q = request.query
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not signature_ok((token.get_secret_value(), timestamp, nonce), q.get("signature", "")):
            log.warning("wechat callback %s: bad signature from %s", account_id, request.remote)
            return forbidden()
        if request.method == "GET":
            return web.Response(text=q.get("echostr", ""))
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY or b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
            return web.Response(status=400, text="bad request")
        crypto: WeChatCrypto | None = None
        try:
            if q.get("encrypt_type") == "aes":
                aes_key = account.credentials.get("encoding_aes_key")
                if aes_key is None:
                    return forbidden()
                envelope = xmltodict.parse(raw)["xml"]
                msg_signature = q.get("msg_signature", "")
                if not signature_ok((token.get_secret_value(), timestamp, nonce, envelope["Encrypt"]), msg_signature):
                    return forbidden()
                crypto = WeChatCrypto(token.get_secret_value(), aes_key.get_secret_value(), account.secret("appid"))
                xml = crypto.decrypt_message(raw, msg_signature, timestamp, nonce)
            else:
                xml = raw.decode("utf-8")
            data = xmltodict.parse(xml)["xml"]
            message = parse_message(xml)
        except Exception as exc:
            log.warning("wechat callback %s: unreadable message: %s", account_id, type(exc).__name__)
            return forbidden() if crypto is not None or q.get("encrypt_type") == "aes" else web.Response(
                status=400, text="bad request")

        def answer(reply_text: str | None) -> web.Response:
            if not reply_text:
                return web.Response(text=SUCCESS)
            xml_out = create_reply(_cdata_safe(reply_text), message, render=True)
            if crypto is not None:
                xml_out = crypto.encrypt_message(xml_out, nonce, timestamp)
            return web.Response(text=xml_out, content_type="application/xml")

        key = _dedupe_key(account_id, data)
        earlier = await store.get(key)
        if earlier is not None:
            return answer(earlier[2:] if earlier.startswith("r:") else None)
        await store.put(key, "-", ttl_seconds=dedupe_ttl_s)

        event = str(data.get("Event") or "").upper() if data.get("MsgType") == "event" else ""
        if event == "PUBLISHJOBFINISH":
            info = data.get("PublishEventInfo") or {}
            publish_id = str(info.get("publish_id", ""))
            outcome = publish_outcome(publish_id, info)
            if publish_id and outcome is not None:
                schedule(on_publish_result(account_id, publish_id, outcome), f"publish result {publish_id}")
        elif event == "MASSSENDJOBFINISH":
            external_id = f"mass:{data.get('MsgID', '')}"
            outcome = mass_outcome(external_id, str(data.get("Status", "")), _article_url(data))
            if outcome is not None:
                schedule(on_publish_result(account_id, external_id, outcome), f"mass result {external_id}")
        elif message.type == "text" and on_text is not None:
            task = schedule(on_text(account_id, message.source, message.content or ""), "text reply")
            try:
                reply = await asyncio.wait_for(asyncio.shield(task), reply_timeout_s)
            except TimeoutError:
                log.warning("wechat callback %s: text reply not ready in %.1fs", account_id, reply_timeout_s)
                return answer(None)
            except Exception:
                return answer(None)     # logged by the task's done callback
            if reply:
                await store.put(key, "r:" + reply, ttl_seconds=dedupe_ttl_s)
            return answer(reply)
        return answer(None)

    return handler
