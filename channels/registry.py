"""The one explicit list of channel kinds. Add a platform here and nowhere else.

Entries are import paths so that a deployment without a platform's optional extras still
loads the others, and so importing the registry stays cheap.
"""

from __future__ import annotations

import importlib
from functools import cache

from channels.base import Channel

CHANNEL_KINDS: dict[str, str] = {
    "webhook": "channels.webhook:WebhookChannel",
    "static": "channels.website.static:StaticExportChannel",
    "cms": "channels.website.cms:CmsChannel",
    "weibo": "channels.weibo:WeiboChannel",
    "wechat": "channels.wechat:WechatChannel",
    "push": "channels.push:JPushChannel",
    "manual": "channels.manual:ManualChannel",
}


@cache
def channel_class(kind: str) -> type[Channel]:
    try:
        target = CHANNEL_KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown channel kind {kind!r}; known: {', '.join(sorted(CHANNEL_KINDS))}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Channel)):
        raise TypeError(f"{target} is not a Channel")
    return cls
