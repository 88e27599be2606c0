"""Where a unit's reprint of an item is published on its own website, shared between channels.

The website channels (static export, CMS) learn the page's public URL only when they publish it; the Weibo
channel links its post to that page (the page carries the 转载自 credit and the 原文链接). The URL travels through
the shared ``ctx.kv`` under the unit and item, so every hub process sharing the store sees it. The static export
wins over the CMS when a unit has both: its URL is the one this hub itself wrote and can vouch for.
"""

from __future__ import annotations

from channels.base import KeyValue
from core.models import Item

WEBSITE_KINDS = ("static", "cms")          # in order of preference for the link
PAGE_TTL_S = 90 * 86_400


def _key(kind: str, unit_id: str, item: Item) -> str:
    return f"reprint-page:{kind}:{unit_id}:{item.id if item.id is not None else item.canonical_url}"


async def remember_page(kv: KeyValue, kind: str, unit_id: str, item: Item, url: str | None) -> None:
    """Record the public URL of the unit's page for ``item`` (a website channel calls this once published)."""
    if url:
        await kv.put(_key(kind, unit_id, item), url, ttl_seconds=PAGE_TTL_S)


def preferred_kinds(accounts: list[tuple[str, str]]) -> dict[str, str]:
    """unit id -> the website kind its Weibo posts link, from (unit id, account kind) pairs."""
    best: dict[str, str] = {}
    for unit_id, kind in accounts:
        if kind in WEBSITE_KINDS and (unit_id not in best or WEBSITE_KINDS.index(kind) < WEBSITE_KINDS.index(
                best[unit_id])):
            best[unit_id] = kind
    return best


async def reprint_page(kv: KeyValue, kind: str, unit_id: str, item: Item) -> str | None:
    """The public URL of the unit's own reprint page for ``item`` on its ``kind`` website channel, once published."""
    return await kv.get(_key(kind, unit_id, item))
