"""WeChat official account channel: draft → publish (发表) or mass send (群发), plus server callbacks."""

from channels.wechat.channel import WechatChannel, WechatOptions

__all__ = ["WechatChannel", "WechatOptions"]
