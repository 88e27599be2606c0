"""Government Weibo (statuses/share)."""

from channels.weibo.channel import WeiboChannel

__all__ = ["WeiboChannel"]
