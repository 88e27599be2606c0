"""Which checker looks for a channel kind's reprints. Kinds not named here (a CMS, a static export, the manual
channel, a webhook) are websites when the delivery has a public URL or the account names a column page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feeds.reader import PageFetcher
from syndicator.store.verify import Proof, VerifyTask
from syndicator.verify.base import Checker
from syndicator.verify.unverifiable import PUSH_REASON, WEBHOOK_REASON, Unverifiable
from syndicator.verify.website import PageChecker, has_public_page
from syndicator.verify.wechat import WechatChecker
from syndicator.verify.weibo import WeiboChecker


class WebsiteOrNothing:
    """A website check when there is a public page to look at, else an honest "cannot be verified"."""

    def __init__(self, fetcher: PageFetcher, kind: str, options: Mapping[str, Any]) -> None:
        self.kind, self.options = kind, options
        self.pages = PageChecker(fetcher, kind, options)
        self.none = Unverifiable(WEBHOOK_REASON if kind == "webhook"
                                 else "平台未返回公开页面链接，账号也未配置栏目页（column_url），无法核验")

    def _for(self, task: VerifyTask) -> Checker:
        return self.pages if has_public_page(self.kind, self.options, task) else self.none

    def host(self, task: VerifyTask) -> str:
        return self._for(task).host(task)

    async def check(self, task: VerifyTask) -> Proof:
        return await self._for(task).check(task)


def can_be_seen(checker: Checker | None, external_url: str | None) -> bool:
    """Could this checker ever see a reprint with this public URL (False: JPush, a webhook without a URL)?"""
    if checker is None or isinstance(checker, Unverifiable):
        return False
    if isinstance(checker, WebsiteOrNothing):
        return bool(external_url or checker.pages.columns)
    return True


def checker_for(kind: str, options: Mapping[str, Any], channel: Any, fetcher: PageFetcher) -> Checker:
    if kind == "push":
        return Unverifiable(PUSH_REASON)
    if kind == "weibo" and channel is not None:
        return WeiboChecker(channel)
    if kind == "wechat":
        return WechatChecker(fetcher, options)
    return WebsiteOrNothing(fetcher, kind, options)
