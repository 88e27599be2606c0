"""Plain Chinese for failures an operator reads: HTTP statuses (the one table of them) and a source's
fetch failure. The raw answer (status line, exception, URL) stays in the log and, for deliveries, in the
attempt's recorded detail; what is stored for people and shown to them keeps only the code.

Status meanings follow RFC 9110 §15 (https://www.rfc-editor.org/rfc/rfc9110#section-15) and RFC 6585 (429).
"""

from __future__ import annotations

import re

import aiohttp

from feeds.model import FetchError, ParseError

HTTP_STATUS_TEXT = {
    400: "认为请求有误", 401: "要求身份验证", 403: "拒绝访问", 404: "找不到该地址", 405: "不接受该请求方式",
    408: "等待请求超时", 410: "内容已删除", 412: "要求先通过浏览器校验", 413: "认为内容过大",
    429: "请求过于频繁（被限流）", 500: "内部出错", 502: "网关出错", 503: "服务暂不可用", 504: "网关超时",
}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_STATUS_LINE = re.compile(r"HTTP (\d{3})(?: [A-Z][A-Za-z'-]*(?: [A-Z][A-Za-z'-]*)*)?")


def http_status_text(status: int) -> str:
    """"服务暂不可用（HTTP 503）": what the answer means, with the code kept for whoever checks further."""
    meaning = HTTP_STATUS_TEXT.get(status)
    if meaning is None:
        meaning = "服务出错" if status >= 500 else "拒绝了请求" if status >= 400 else "给出意外答复"
    return f"{meaning}（HTTP {status}）"


def plain_http(text: str) -> str:
    """Every English status line in ``text`` ("HTTP 503 Service Unavailable", "HTTP 404") said in Chinese."""
    return _STATUS_LINE.sub(lambda m: http_status_text(int(m.group(1))), text)


def source_error_text(exc: BaseException) -> str:
    """Why a source could not be read, in words an operator can act on (the raw error goes to the log)."""
    if isinstance(exc, FetchError):
        message = str(exc)
        if exc.status is not None and exc.status >= 400:
            return f"来源网站{http_status_text(exc.status)}"
        if "non-http" in message:
            return "来源网站跳转到了非网页地址，请核对信息源地址"
        if "byte limit" in message:
            return "来源内容超过大小上限，请核对地址是否正确（或请管理员调大抓取大小限制）"
        pages = re.match(r"(\d+) article page\(s\) failed: .*?: (.*)$", message)
        if pages:
            return f"{pages.group(1)} 篇文章页读取失败（首个原因：{source_error_text_of(pages.group(2))}）"
        return source_error_text_of(message)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "无法连接来源网站（地址不通或被拒绝连接），请核对地址与网络"
    if isinstance(exc, TimeoutError):
        return "来源网站响应超时，稍后自动重试"
    if isinstance(exc, aiohttp.ClientError):
        return "与来源网站的连接中断，稍后自动重试"
    if isinstance(exc, ParseError):
        kept = str(exc) if _CJK.search(str(exc)) else ""
        return "来源内容无法按配置解析（页面可能改版或格式不符）" + (f"：{kept}" if kept else "")
    return source_error_text_of(str(exc))


def source_error_text_of(message: str) -> str:
    """A failure known only by its message: kept when it is already Chinese, else said generally."""
    if _CJK.search(message):
        return plain_http(message)
    status = _STATUS_LINE.search(message)
    if status:
        return f"来源网站{http_status_text(int(status.group(1)))}"
    return "读取来源失败（详细原因已记入运行日志）"
