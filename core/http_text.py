"""HTTP statuses in plain Chinese: the one table of them, for every message an operator reads.

Status meanings follow RFC 9110 §15 (https://www.rfc-editor.org/rfc/rfc9110#section-15) and RFC 6585 (429).
"""

from __future__ import annotations

import re

HTTP_STATUS_TEXT = {
    400: "认为请求有误", 401: "要求身份验证", 403: "拒绝访问", 404: "找不到该地址", 405: "不接受该请求方式",
    408: "等待请求超时", 410: "内容已删除", 412: "要求先通过浏览器校验", 413: "认为内容过大",
    429: "请求过于频繁（被限流）", 500: "内部出错", 502: "网关出错", 503: "服务暂不可用", 504: "网关超时",
}
STATUS_LINE = re.compile(r"HTTP (\d{3})(?: [A-Z][A-Za-z'-]*(?: [A-Z][A-Za-z'-]*)*)?")


def http_status_text(status: int) -> str:
    """"服务暂不可用（HTTP 503）": what the answer means, with the code kept for whoever checks further."""
    meaning = HTTP_STATUS_TEXT.get(status)
    if meaning is None:
        meaning = "服务出错" if status >= 500 else "拒绝了请求" if status >= 400 else "给出意外答复"
    return f"{meaning}（HTTP {status}）"


def plain_http(text: str) -> str:
    """Every English status line in ``text`` ("HTTP 503 Service Unavailable", "HTTP 404") said in Chinese."""
    return STATUS_LINE.sub(lambda m: http_status_text(int(m.group(1))), text)
