"""Client apps through JPush (极光推送) v3."""

from channels.push.channel import JPushChannel

__all__ = ["JPushChannel"]
