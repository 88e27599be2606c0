"""Weibo re-authorisation on the hub's public URL, and the token-expiry watch.

A person presses 重新授权 on the dashboard (login + CSRF) → the hub redirects to Weibo's ``oauth2/authorize`` with a
one-time ``state`` bound to the account → the person consents as the unit's Weibo account → Weibo redirects to
``<public_url>/weibo/callback/<account id>`` → the hub checks the state, trades the code for a token
(``oauth2/access_token``), stores it (channels/weibo/tokens.py) and, if the account was held for re-authorisation,
resumes it. The callback cannot rely on the dashboard session (its cookie is SameSite=Strict and Weibo's redirect
is cross-site): the unguessable, single-use, 10-minute ``state`` is what authenticates it (RFC 6749 §10.12).

The pages are syndicator.dashboard.weibo; this module keeps what they and the hub share, and the watch.

Tokens expire after 1 to 90 days by the app's level: every hour the hub asks ``oauth2/get_token_info`` for each
Weibo account and alerts a person once a day from ``reauth_alert_days`` (default 7) before the end.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from channels.base import ChannelError
from channels.weibo.channel import WeiboChannel
from core.clock import SHANGHAI, Clock
from syndicator.dispatch import Binding
from syndicator.store import Store

log = logging.getLogger(__name__)
STATE_TTL_S = 600.0
WATCH_EVERY_S = 3600.0


def weibo_channel(bindings: Mapping[str, Binding], account_id: str) -> WeiboChannel | None:
    """The account's Weibo channel, or None when it is not a Weibo account of this hub."""
    binding = bindings.get(account_id)
    channel = binding.channel if binding is not None else None
    return channel if isinstance(channel, WeiboChannel) else None


# ---------------------------------------------------------------- expiry watch


async def check_expiry(bindings: Mapping[str, Binding], store: Store, clock: Clock,
                       alert: Callable[[str, str], Awaitable[None]]) -> int:
    """Ask Weibo how long each account's token has left; alert (once a day) when it ends within the account's
    ``reauth_alert_days`` or has already ended. Returns how many alerts were raised."""
    raised = 0
    now = clock.now()
    for account_id in list(bindings):
        channel = weibo_channel(bindings, account_id)
        if channel is None:
            continue
        try:
            expires_at: datetime | None = await channel.token_expiry()
            problem = None
        except ChannelError as exc:
            expires_at, problem = None, exc.reason
        except Exception as exc:           # a network failure here must not stop the watch
            log.warning("weibo token check of %s failed: %s", account_id, type(exc).__name__)
            continue
        days = channel.options.reauth_alert_days
        if problem is None and expires_at is not None and (expires_at - now).total_seconds() > days * 86_400:
            continue
        marker = f"weibo:expiry-alerted:{account_id}:{now.astimezone(SHANGHAI).date()}"
        if await store.kv.get(marker):
            continue
        await store.kv.put(marker, "1", ttl_seconds=2 * 86_400)
        if problem is not None:
            message = f"微博账号 {account_id} 授权检查失败：{problem}"
        else:
            assert expires_at is not None
            left = max(0.0, (expires_at - now).total_seconds() / 86_400)
            message = (f"微博账号 {account_id} 的授权将于 {expires_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}（北京时间）"
                       f"到期（约 {left:.1f} 天后），请在“投递—渠道账号”中点击“重新授权”")
        await alert(account_id, message)
        raised += 1
    return raised
