"""Plain Chinese for a source's fetch failure (HTTP statuses themselves: core.http_text). The raw answer
(status line, exception, URL) stays in the log and, for deliveries, in the attempt's recorded detail; what is
stored for people and shown to them keeps only the code.
"""

from __future__ import annotations

import re

import aiohttp

from core.fetch import FetchError
from core.http_text import STATUS_LINE, http_status_text, plain_http
from feeds.model import ParseError

_CJK = re.compile(r"[\u4e00-\u9fff]")

_FETCH_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"(?:.* )?did not finish within (\S+) s \(poll deadline\)", "本轮检查超过时限（{0} 秒）未完成，下次自动重试"),
    (r"browser fetch failed: .* did not finish within (\S+) s", "浏览器抓取超时（{0} 秒）"),
    (r"no complete answer within (\S+) s", "来源网站在 {0} 秒内未完整答复（超时）"),
    (r"bot gate not passed", "未能通过来源网站的浏览器校验"),
    (r"browser fetch failed", "浏览器抓取失败"),
    (r"only http and https URLs can be fetched", "地址不是网页地址（只支持 http/https）"),
    (r"redirected to a non-http URL", "来源网站跳转到了非网页地址"),
    (r"more than (\d+) redirects", "来源网站跳转次数过多（超过 {0} 次）"),
    (r".*exceeds the \d+-(?:byte|character) limit",
     "来源内容超过大小上限，请核对地址是否正确（或请管理员调大抓取大小限制）"),
    (r"source \S+ needs fetch mode 'browser'", "该来源需要用浏览器抓取（请管理员修改该信息源的抓取方式）"),
    (r"Client\w*Connect\w*Error", "无法连接来源网站（地址不通或被拒绝连接），请核对地址与网络"),
    (r"(?:Server\w*|Client\w*)Error", "与来源网站的连接中断，稍后自动重试"),
))
_URL_PREFIX = re.compile(r"^(https?://\S+?): (.*)$", re.DOTALL)
_ARTICLES = re.compile(r"^(\d+) article page\(s\) failed: (.*)$", re.DOTALL)
_GAVE_UP = re.compile(r"^article page (\S+) failed (\d+) polls in a row \((.*)\); stored from its list entry$",
                      re.DOTALL)
_LIST_PAGE = re.compile(r"^list page (\d+) failed \((.*)\); kept the (\d+) entries before it$", re.DOTALL)


def fetch_message_text(message: str) -> str:
    """One fetch failure's message ("<url>: <what>") in Chinese; the URL is kept after it."""
    articles = _ARTICLES.match(message)
    if articles:
        return f"{articles.group(1)} 篇文章页读取失败，首个：{fetch_message_text(articles.group(2))}"
    prefix = _URL_PREFIX.match(message)
    url, what = (prefix.group(1), prefix.group(2)) if prefix else ("", message)
    where = f"（{url}）" if url else ""
    if _CJK.search(what):
        return plain_http(what) + where
    status = STATUS_LINE.match(what)
    if status:
        return f"来源网站{http_status_text(int(status.group(1)))}{where}"
    for pattern, text in _FETCH_MESSAGES:
        m = pattern.match(what)
        if m:
            return text.format(*m.groups()) + where
    return f"读取来源失败（详细原因已记入运行日志）{where}"


def source_warning_text(warning: str) -> str:
    """A source read that worked in part ("list page 2 failed (...); kept the 1 entries before it")."""
    page = _LIST_PAGE.match(warning)
    if page:
        return (f"第 {page.group(1)} 页列表读取失败（{fetch_message_text(page.group(2))}），"
                f"已保留之前的 {page.group(3)} 条")
    gave_up = _GAVE_UP.match(warning)
    if gave_up:
        why = fetch_message_text(gave_up.group(3))
        return f"文章页 {gave_up.group(1)} 连续 {gave_up.group(2)} 次读取失败（{why}），已按列表中的信息保存该稿件"
    return fetch_message_text(warning)


def source_error_text(exc: BaseException) -> str:
    """Why a source could not be read, in words an operator can act on (the raw error goes to the log)."""
    if isinstance(exc, FetchError):
        if exc.status is not None and exc.status >= 400:
            url = f"（{exc.url}）" if exc.url else ""
            return f"来源网站{http_status_text(exc.status)}{url}"
        return fetch_message_text(str(exc))
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "无法连接来源网站（地址不通或被拒绝连接），请核对地址与网络"
    if isinstance(exc, TimeoutError):
        return "来源网站响应超时，稍后自动重试"
    if isinstance(exc, aiohttp.ClientError):
        return "与来源网站的连接中断，稍后自动重试"
    if isinstance(exc, ParseError):
        # which selector or path failed is what the administrator fixes: kept, marked as the technical detail
        detail = str(exc)
        if _CJK.search(detail):
            return f"来源内容无法按配置解析：{plain_http(detail)}"
        return "来源内容无法按配置解析（页面可能改版或格式不符）" + (f"；技术细节：{detail}" if detail else "")
    return fetch_message_text(str(exc))
