"""WeChat official accounts: fetch the article URL the platform returned and find the title on it.

Public evidence: the article page at the ``url`` that freepublish/get (发布) or the mass-send result gives
(https://developers.weixin.qq.com/doc/offiaccount/Publish/Get_status.html: ``article_detail.item[].article_url``),
fetched like any public page (syndicator.verify.website). 发布 (freepublish) articles are not pushed to followers
and do not appear in the account's history list ("发布后不会推送给用户，也不会展示在公众号主页中",
https://developers.weixin.qq.com/doc/offiaccount/Publish/Publish.html): the check records that as a note, and the
reprint is still verified when its page shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feeds.reader import PageFetcher
from syndicator.store.verify import Proof, VerifyTask
from syndicator.verify.website import PageChecker

PUBLISH_NOTE = "发布（freepublish）方式：文章不推送给粉丝、不出现在公众号历史消息列表，仅凭链接可见"


class WechatChecker:
    def __init__(self, fetcher: PageFetcher, options: Mapping[str, Any]) -> None:
        self.pages = PageChecker(fetcher, "wechat", {})     # only the article's own page: no column page
        self.publish_mode = options.get("mode", "publish") == "publish"

    def host(self, task: VerifyTask) -> str:
        return self.pages.host(task) or "mp.weixin.qq.com"

    async def check(self, task: VerifyTask) -> Proof:
        if not task.external_url:
            return Proof("error", reason="平台未返回文章链接（article_url），暂无法核验")
        proof = await self.pages.check(task)
        if not self.publish_mode:
            return proof
        reason = f"{proof.reason}；{PUBLISH_NOTE}" if proof.reason else PUBLISH_NOTE
        return Proof(proof.outcome, url=proof.url, http_status=proof.http_status, matched=proof.matched,
                     matched_url=proof.matched_url, page_hash=proof.page_hash, api_json=proof.api_json, reason=reason)
