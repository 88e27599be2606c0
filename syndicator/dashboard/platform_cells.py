"""Per-platform facts on the dashboard's channel-accounts table: a Weibo account's token expiry with its 重新授权
button (syndicator/dashboard/weibo.py), a WeChat account's 发布 / 群发 mode (docs/platforms.md)."""

from __future__ import annotations

from aiohttp import web

from channels.base import AccountConfig
from channels.weibo.tokens import known_expiry
from syndicator.dashboard import render as r
from syndicator.dashboard.render import Html, esc
from syndicator.web_keys import CLOCK, STORE

WECHAT_MODES = {"publish": "发布（不推送给粉丝，不限次数）", "mass_send": "群发（推送给粉丝，受群发次数限制）"}


async def platform_cell(app: web.Application, account: AccountConfig, csrf: str, back: str) -> tuple[Html, Html]:
    """(the table cell, an extra action form or empty)."""
    if account.kind == "wechat":
        mode = str(account.options.get("mode", "publish"))
        return Html(f"<td>{esc(WECHAT_MODES.get(mode, mode))}</td>"), Html("")
    if account.kind != "weibo":
        return Html("<td></td>"), Html("")
    expires = await known_expiry(app[STORE].kv, account.id)
    days = int(account.options.get("reauth_alert_days", 7))
    if expires is None:
        text, css = "授权到期时间尚未查询（每小时检查一次）", "muted"
    else:
        left = (expires - app[CLOCK].now()).total_seconds() / 86_400
        css = "late" if left <= 0 else "soon" if left <= days else ""
        text = f"授权到期：{r.local_text(expires)}" + ("（已过期）" if left <= 0 else f"（约 {left:.1f} 天后）")
    button = r.action_form(f"/accounts/weibo/{account.id}/authorize", csrf, back, "重新授权", secondary=True)
    return Html(f'<td class="{css}">{esc(text)}</td>'), button
