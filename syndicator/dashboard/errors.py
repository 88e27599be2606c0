"""Chinese error pages for people: a wrong address or a fault shows a page an operator can act on, never
aiohttp's English "404: Not Found" or a traceback. Machine paths (/api, /metrics, /healthz, the WeChat
callback) keep their own JSON or plain answers."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from syndicator.dashboard import render as r
from syndicator.dashboard.render import Html

log = logging.getLogger(__name__)
MACHINE_PATHS = ("/api/", "/metrics", "/healthz", "/livez", "/wechat/")


def not_found_page() -> web.Response:
    return r.page("页面不存在", Html('<p>您访问的页面不存在或已移动。<a href="/">返回总览</a></p>'), status=404)


def fault_page(ref: str) -> web.Response:
    return r.page("系统出错", Html(f'<p>处理请求时出错，操作未完成。请稍后重试；如反复出现，请将编号 '
                                  f'<b>{r.esc(ref)}</b> 告知系统管理员（日志中有详细记录）。</p>'
                                  '<p><a href="/">返回总览</a></p>'), status=500)


def method_page() -> web.Response:
    return r.page("操作方式不正确", Html('<p>此页面不支持该操作方式。<a href="/">返回总览</a></p>'), status=405)


@web.middleware
async def chinese_errors(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    if request.path.startswith(MACHINE_PATHS):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return not_found_page()
    except web.HTTPMethodNotAllowed:
        return method_page()
    except web.HTTPException:
        raise
    except Exception:
        ref = uuid.uuid4().hex[:8]
        log.exception("dashboard: error %s while serving %s %s", ref, request.method, request.path)
        return fault_page(ref)
