"""A source's fetch failure in plain Chinese for an operator (the raw English text stays in the logs and
the source's stored ``last_error``). Only the status code is kept from the raw text: it is what a
website's administrator will ask for."""

from __future__ import annotations

import re

# RFC 9110 status meanings, as an operator needs them (https://www.rfc-editor.org/rfc/rfc9110#section-15)
HTTP_TEXT = {400: "请求被网站拒绝", 401: "网站要求登录", 403: "网站拒绝访问（可能限制了来访地址）",
             404: "页面不存在（地址可能已变更）", 410: "页面已被删除", 412: "网站要求浏览器校验",
             429: "访问过于频繁，被网站限流", 500: "网站内部错误", 502: "网站网关错误", 503: "网站暂时不可用",
             504: "网站网关超时"}
_CJK = re.compile(r"[\u4e00-\u9fff]")
_URL = re.compile(r"https?://\S+?: ")
_PATTERNS = (
    (re.compile(r"did not finish within|no complete answer within|timed? ?out", re.I), "访问超时，网站没有及时响应"),
    (re.compile(r"bot gate|JS 校验|challenge", re.I), "网站的浏览器校验未通过"),
    (re.compile(r"exceeds the .*limit", re.I), "页面过大，超过抓取上限"),
    (re.compile(r"redirect", re.I), "网站跳转异常（跳转过多或跳到非网页地址）"),
    (re.compile(r"certificate|SSL", re.I), "网站证书校验失败"),
    (re.compile(r"ClientConnector|Cannot connect|Connection refused|Name or service|getaddrinfo|DNS", re.I),
     "无法连接到网站（网络或域名解析问题）"),
    (re.compile(r"matched nothing|layout may have changed|lack a usable link|list path", re.I),
     "页面结构可能已变化，找不到稿件列表"),
    (re.compile(r"not an HTML page|expected JSON|not well-formed|parse", re.I), "网站返回的内容无法解析"),
    (re.compile(r"article page", re.I), "稿件正文页抓取失败"),
)


def fetch_problem_text(error: str | None) -> str:
    """'https://x/: HTTP 503 Service Unavailable' -> '网站暂时不可用（HTTP 503）'."""
    text = error or ""
    if text.startswith("warning: "):            # the poll succeeded; something on the way needs a look
        body = text.removeprefix("warning: ")
        if "stored from its list entry" in body:
            return "提示：有稿件的正文页多次抓取失败，已按列表信息入库"
        if _CJK.search(body):                   # refused entries carry intake's Chinese reason
            return "提示：" + _URL.sub("", body)[:300]
        return "提示：部分页面读取不完整，下次检查会重新读取"
    prefix = "稿件正文页抓取失败：" if "article page" in text else ""
    status = re.search(r"\bHTTP (\d{3})\b", text)
    if status:
        code = int(status.group(1))
        return f"{prefix}{HTTP_TEXT.get(code, '网站返回错误')}（HTTP {code}）"
    for pattern, meaning in _PATTERNS:
        if pattern.search(text):
            return meaning if not prefix or meaning.startswith("稿件") else prefix + meaning
    return f"{prefix}抓取失败（原因未能识别，详见运行日志）" if text else "抓取失败（原因未记录）"
