"""Telling people: e-mail and WeCom / DingTalk group robots.

Channels publish reprints to the public; these reach the people who must act — a unit's 信息员, the
responsible person, the operators on duty. Each sender has one call, ``send(title, text)``, that returns
once the service accepted the message or raises a typed channel error (``RetryLater`` for rate limits,
outages and lost replies; ``PermanentError`` for a wrong key, signature or address: a person must fix the
configuration). Texts are Simplified Chinese Markdown-light: a title line and short paragraphs.
"""

from __future__ import annotations

from typing import Protocol


class Notifier(Protocol):
    """One destination for messages to people."""

    kind: str

    def describe(self) -> str:
        """Where it sends, for operators, without any secret (e.g. 企业微信群机器人 …a1b2)."""
        ...

    async def send(self, title: str, text: str) -> None:
        """Deliver one message; raise RetryLater / PermanentError (channels.base) when not accepted."""
        ...
