"""Units without an API: notify the 信息员, verify on the unit's column page (see channel.py)."""

from channels.manual.channel import ManualChannel

__all__ = ["ManualChannel"]
