"""The hub's WeChat server URL: ``GET/POST /wechat/callback/{account_id}``.

Protocol (https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html,
.../Message_Management/Receiving_standard_messages.html, .../Publish/Callback_on_finish.html):
GET verifies the server (echo ``echostr``); POST carries messages and events, in safe mode
(``encrypt_type=aes``) inside ``<Encrypt>`` signed by ``msg_signature``. WeChat waits 5 s, then retries
three times: we de-duplicate by MsgId (events: FromUserName + CreateTime, plus the event's own id) and
never await slow work — a text reply gets at most ``reply_timeout_s``.

Who may do what (docs/security.md): every request needs a valid signature, a timestamp within ±300 s and
an unused nonce (callback_guard.py). An account with an EncodingAESKey accepts only encrypted messages;
text reaches the console only in safe mode (the plain-mode signature does not cover the body). A
PUBLISHJOBFINISH / MASSSENDJOBFINISH event is a hint: the hub asks the platform (``on_hint``) and
marks nothing from the event's own fields.

wechatpy compares signatures with ``!=``; we check them ourselves with ``hmac.compare_digest`` and use
wechatpy only for what has no network I/O (``WeChatCrypto``, ``parse_message``, ``create_reply``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import xmltodict
from aiohttp import web
from wechatpy import create_reply, parse_message
from wechatpy.crypto import WeChatCrypto

from channels.base import AccountConfig
from channels.wechat.callback_guard import CallbackGuard, Refused, SeenStore
from core.clock import Clock, SystemClock

log = logging.getLogger(__name__)
HintHandler = Callable[[str, str], Awaitable[Any]]          # (account_id, external_id): ask the platform
TextHandler = Callable[[str, str, str], Awaitable[str | None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024
SUCCESS = "success"


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def signature_ok(expected_parts: tuple[str, ...], given: str) -> bool:
    return hmac.compare_digest(sign(*expected_parts).encode(), given.encode())


def _dedupe_key(account_id: str, data: Mapping[str, Any]) -> str:
    if data.get("MsgId"):
        return f"wechat:cb:{account_id}:{data['MsgId']}"
    info = data.get("PublishEventInfo") or {}
    extra = info.get("publish_id") if isinstance(info, Mapping) else None
    parts = (data.get("FromUserName"), data.get("CreateTime"), data.get("Event"), extra or data.get("MsgID"))
    return f"wechat:cb:{account_id}:" + ":".join(str(p or "") for p in parts)


def _cdata_safe(text: str) -> str:
    return text.replace("]]>", "]]]]><![CDATA[>")


def make_wechat_callback(
    accounts: Mapping[str, AccountConfig],
    on_hint: HintHandler,
    on_text: TextHandler | None,
    seen: SeenStore,
    *,
    clock: Clock | None = None,
    refused: Refused | None = None,
    reply_timeout_s: float = 4.0,
    dedupe_ttl_s: float = 600.0,
    window_s: float = 300.0,
) -> Handler:
    """The aiohttp handler for both GET and POST on ``/wechat/callback/{account_id}``."""
    clock = clock or SystemClock()
    guard = CallbackGuard(seen, clock, refused, window_s=window_s, dedupe_ttl_s=dedupe_ttl_s)
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

    async def handler(request: web.Request) -> web.StreamResponse:
        account_id = request.match_info.get("account_id", "")
        account = accounts.get(account_id)
        token = account.credentials.get("token") if account is not None and account.kind == "wechat" else None
        if account is None or token is None:
            guard.refused("", "unknown_account")       # attacker-chosen ids never become metric labels
            raise web.HTTPNotFound()
        q = request.query
        timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
        if not signature_ok((token.get_secret_value(), timestamp, nonce), q.get("signature", "")):
            return guard.refuse(request, account_id, "bad_signature")
        if guard.stale(timestamp):
            return guard.refuse(request, account_id, "stale_timestamp")
        aes_key = account.credentials.get("encoding_aes_key")
        if request.method == "GET":
            if not await guard.nonce_is_new(account_id, timestamp, nonce):
                return guard.refuse(request, account_id, "nonce_reused")
            return web.Response(text=q.get("echostr", ""))
        safe = q.get("encrypt_type") == "aes"
        if aes_key is not None and not safe:
            return guard.refuse(request, account_id, "plaintext_refused")     # no downgrade to plain mode
        if safe and aes_key is None:
            return guard.refuse(request, account_id, "no_aes_key")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY or b"<!DOCTYPE" in raw.upper() or b"<!ENTITY" in raw.upper():
            return guard.refuse(request, account_id, "bad_body", 400)
        crypto: WeChatCrypto | None = None
        try:
            if safe:
                assert aes_key is not None
                envelope = xmltodict.parse(raw)["xml"]
                msg_signature = q.get("msg_signature", "")
                if not signature_ok((token.get_secret_value(), timestamp, nonce, envelope["Encrypt"]), msg_signature):
                    return guard.refuse(request, account_id, "bad_msg_signature")
                crypto = WeChatCrypto(token.get_secret_value(), aes_key.get_secret_value(), account.secret("appid"))
                xml = crypto.decrypt_message(raw, msg_signature, timestamp, nonce)
            else:
                xml = raw.decode("utf-8")
            data = xmltodict.parse(xml)["xml"]
            message = parse_message(xml)
        except Exception as exc:
            log.warning("wechat callback %s: unreadable message: %s", account_id, type(exc).__name__)
            return guard.refuse(request, account_id, "undecryptable" if safe else "bad_body", 403 if safe else 400)
        if not await guard.nonce_is_new(account_id, timestamp, nonce):
            return guard.refuse(request, account_id, "nonce_reused")

        def answer(reply_text: str | None) -> web.Response:
            if not reply_text:
                return web.Response(text=SUCCESS)
            xml_out = create_reply(_cdata_safe(reply_text), message, render=True)
            if crypto is not None:
                xml_out = crypto.encrypt_message(xml_out, nonce, timestamp)
            return web.Response(text=xml_out, content_type="application/xml")

        key = _dedupe_key(account_id, data)
        if not await guard.first_time(key):
            earlier = await guard.seen.get(key)
            return answer(earlier[2:] if earlier and earlier.startswith("r:") else None)

        event = str(data.get("Event") or "").upper() if data.get("MsgType") == "event" else ""
        if event == "PUBLISHJOBFINISH":
            info = data.get("PublishEventInfo") or {}
            publish_id = str(info.get("publish_id", "")) if isinstance(info, Mapping) else ""
            if publish_id:
                schedule(on_hint(account_id, publish_id), f"publish check {publish_id}")
        elif event == "MASSSENDJOBFINISH":
            if data.get("MsgID"):
                external_id = f"mass:{data['MsgID']}"
                schedule(on_hint(account_id, external_id), f"mass check {external_id}")
        elif message.type == "text" and on_text is not None:
            if crypto is None:          # plain mode: the body is not signed, so it may not act
                log.warning("wechat callback %s: text in plain mode not passed to the console (needs safe mode)",
                            account_id)
                guard.refused(account_id, "plain_mode_command")
                return answer(None)
            task = schedule(on_text(account_id, message.source, message.content or ""), "text reply")
            try:
                reply = await asyncio.wait_for(asyncio.shield(task), reply_timeout_s)
            except TimeoutError:
                log.warning("wechat callback %s: text reply not ready in %.1fs", account_id, reply_timeout_s)
                return answer(None)
            except Exception:
                return answer(None)     # logged by the task's done callback
            if reply:
                await guard.seen.put(key, "r:" + reply, ttl_seconds=dedupe_ttl_s)
            return answer(reply)
        return answer(None)

    return handler
