"""Plain Chinese for failures (syndicator.plain_words): HTTP statuses from one table, with the code kept, and
every kind of source fetch failure said in words an operator can act on."""

from __future__ import annotations

import aiohttp
import pytest

from core.fetch import FetchError
from core.http_text import http_status_text, plain_http
from feeds.model import ParseError
from syndicator.plain_words import fetch_message_text, source_error_text, source_warning_text

URL = "https://www.gov.cn/zhengce/zuixin/"


@pytest.mark.parametrize(("status", "said"), [
    (503, "服务暂不可用（HTTP 503）"), (404, "找不到该地址（HTTP 404）"), (429, "请求过于频繁（被限流）（HTTP 429）"),
    (599, "服务出错（HTTP 599）"), (418, "拒绝了请求（HTTP 418）"),
])
def test_http_statuses_are_said_in_chinese_with_the_code_kept(status: int, said: str) -> None:
    assert http_status_text(status) == said


def test_english_status_lines_in_a_text_are_replaced() -> None:
    assert plain_http("微博接口返回 HTTP 503 Service Unavailable") == "微博接口返回 服务暂不可用（HTTP 503）"


@pytest.mark.parametrize(("exc", "said"), [
    (FetchError(f"{URL}: HTTP 503 Service Unavailable", url=URL, status=503),
     f"来源网站服务暂不可用（HTTP 503）（{URL}）"),
    (FetchError(f"{URL}: no complete answer within 20 s", url=URL), f"来源网站在 20 秒内未完整答复（超时）（{URL}）"),
    (FetchError(f"{URL}: more than 5 redirects", url=URL), f"来源网站跳转次数过多（超过 5 次）（{URL}）"),
    (FetchError(f"{URL}: ClientOSError: [Errno 104] reset", url=URL), f"与来源网站的连接中断，稍后自动重试（{URL}）"),
    (FetchError(f"{URL}: something nobody foresaw", url=URL), f"读取来源失败（详细原因已记入运行日志）（{URL}）"),
    (ParseError("item selector 'li' matched nothing"), "来源内容无法按配置解析（页面可能改版或格式不符）；技术细节："
                                                       "item selector 'li' matched nothing"),
    (TimeoutError(), "来源网站响应超时，稍后自动重试"),
    (aiohttp.ServerDisconnectedError(), "与来源网站的连接中断，稍后自动重试"),
])
def test_source_failures_are_said_in_chinese(exc: BaseException, said: str) -> None:
    assert source_error_text(exc) == said


def test_partial_reads_are_said_in_chinese() -> None:
    warning = f"list page 2 failed ({URL}index_1.htm: HTTP 502); kept the 3 entries before it"
    assert source_warning_text(warning) == (f"第 2 页列表读取失败（来源网站网关出错（HTTP 502）（{URL}index_1.htm）），"
                                            "已保留之前的 3 条")
    assert fetch_message_text(f"2 article page(s) failed: {URL}1.htm: HTTP 404").startswith(
        "2 篇文章页读取失败，首个：来源网站找不到该地址（HTTP 404）")
