"""Unguessable, expiring links in a notice: the copy-ready page and the "已转载，填写链接" form.

A token is ``<payload>.<mac>``: payload = base64url of ``{"d": delivery id, "p": purpose, "e": expiry (Unix s)}``,
mac = HMAC-SHA256 of the payload under the hub's link secret (hex, first 32 characters = 128 bits). The secret is
generated once (``secrets.token_hex(32)``) and kept in the store's key-value table, so every hub process on the
same database signs and checks alike and no config file holds it. Comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from channels.base import KeyValue

SECRET_KEY = "manual:link-secret"
PURPOSES = ("copy", "done")


async def link_secret(kv: KeyValue, holder: str) -> str:
    """The hub's link secret, created on first use by the hub holding the creation lease (``holder``: this hub's
    instance id); every hub reads the stored one back."""
    value = await kv.get(SECRET_KEY)
    if value:
        return value
    if await kv.lease(SECRET_KEY + ":init", holder, 30):
        value = await kv.get(SECRET_KEY)
        if not value:
            await kv.put(SECRET_KEY, secrets.token_hex(32))
    value = await kv.get(SECRET_KEY)
    if not value:
        raise RuntimeError("link secret not available yet (another hub is creating it)")
    return value


def _mac(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


def make_token(secret: str, delivery_id: int, purpose: str, expires: datetime) -> str:
    assert purpose in PURPOSES
    raw = json.dumps({"d": delivery_id, "p": purpose, "e": int(expires.timestamp())}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    return f"{payload}.{_mac(secret, payload)}"


@dataclass(frozen=True, slots=True)
class LinkCheck:
    delivery_id: int | None
    problem: str | None          # Chinese, for the page; None when the token is good


def check_token(secret: str, token: str, purpose: str, now: datetime) -> LinkCheck:
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        return LinkCheck(None, "链接无效：请使用通知中的原始链接")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        delivery_id, kind, expires = int(data["d"]), str(data["p"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        return LinkCheck(None, "链接无效：请使用通知中的原始链接")
    if kind != purpose:
        return LinkCheck(None, "链接无效：请使用通知中的原始链接")
    if now.timestamp() > expires:
        return LinkCheck(None, "链接已过期：请在管理后台查看该稿件，或联系转载中枢管理员")
    return LinkCheck(delivery_id, None)
