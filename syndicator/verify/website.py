"""Websites (static export, CMS, manual units, any account with a public page): fetch the public page.

Public evidence: the page itself, over plain HTTP(S), with the same fetch rules as upstream sources
(core.fetch: time and size caps, redirects, strict GBK/UTF-8 charset decision), through the verifier's own
Fetcher (its per-host limit apart from the watcher's). Where it looks, in order: the reprint's own page (the
URL the platform returned, or where a previous check found it), then the column page named in the account's
options (``column_url``/``column_page``; a static export's ``public_url`` is its column index). A reprint is
found by its own link in an anchor, an anchor whose text is its title, or its title on its own page.
A re-check of a verified reprint looks only at the page it was found at (a column page scrolls).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from core.fetch import FetchError
from feeds.reader import PageFetcher
from syndicator.store.verify import Proof, VerifyTask
from syndicator.verify.base import find_item, page_hash

GONE_STATUSES = (404, 410)      # the page is not there: a definite "not visible", not a failed check


def column_pages(kind: str, options: Mapping[str, Any]) -> list[str]:
    """The account's public column page(s), if its options name one."""
    urls = [options.get("column_url"), options.get("column_page")]
    if kind == "static":
        urls.append(options.get("public_url"))
    return [u for u in dict.fromkeys(urls) if isinstance(u, str) and u.startswith(("http://", "https://"))]


def has_public_page(kind: str, options: Mapping[str, Any], task: VerifyTask) -> bool:
    return bool(task.external_url or column_pages(kind, options))


class PageChecker:
    """Finds a reprint on its public page(s)."""

    def __init__(self, fetcher: PageFetcher, kind: str, options: Mapping[str, Any]) -> None:
        self.fetcher, self.kind, self.columns = fetcher, kind, column_pages(kind, options)

    def urls(self, task: VerifyTask) -> list[str]:
        if task.verify_state in ("verified", "gone") and (task.matched_url or task.external_url):
            return [task.matched_url or task.external_url or ""]
        return list(dict.fromkeys(u for u in (task.external_url, *self.columns) if u))

    def host(self, task: VerifyTask) -> str:
        urls = self.urls(task)
        return (urlsplit(urls[0]).hostname or "") if urls else ""

    async def check(self, task: VerifyTask) -> Proof:
        notes: list[str] = []
        definite = True
        first: Proof | None = None
        for url in self.urls(task):
            try:
                page = await self.fetcher.fetch(url)
            except FetchError as exc:
                if exc.status in GONE_STATUSES:
                    notes.append(f"{url} 返回 HTTP {exc.status}（页面不存在）")
                    first = first or Proof("absent", url=url, http_status=exc.status)
                else:
                    definite = False
                    notes.append(f"{url} 无法访问：{exc}")
                    first = first or Proof("error", url=url, http_status=exc.status)
                continue
            match = find_item(page.text, page.url, task.title, task.external_url)
            if match is not None:
                where = "转载页" if match.link and task.external_url and page.url == match.link else "栏目页"
                return Proof("seen", url=page.url, http_status=page.status, page_hash=page_hash(page.body),
                             matched=f"{match.how}：{match.link or page.url}", matched_url=match.link,
                             reason=f"在{where}找到该稿件（按{match.how}匹配）")
            notes.append(f"{page.url}（HTTP {page.status}，{page.encoding}）中未找到该稿件标题或链接")
            first = first or Proof("absent", url=page.url, http_status=page.status, page_hash=page_hash(page.body))
        if first is None:
            return Proof("error", reason="没有可核验的公开页面（平台未返回链接，账号也未配置栏目页 column_url）")
        outcome = "absent" if definite else "error"
        return Proof(outcome, url=first.url, http_status=first.http_status, page_hash=first.page_hash,
                     reason="；".join(notes))
