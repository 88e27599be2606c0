"""WeChat error codes and job states mapped to the hub's typed errors, with Chinese reasons.

Sources (checked 2026):
- Global return codes: https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
- freepublish/get ``publish_status``: https://developers.weixin.qq.com/doc/service/api/public/api_freepublish_get
  (0 成功, 1 发布中, 2 原创失败, 3 常规失败, 4 平台审核不通过, 5 成功后用户删除所有文章, 6 成功后系统封禁所有文章)
- freepublish/submit codes 53503/53504/53505: https://developers.weixin.qq.com/doc/service/Publish/Publish.html
- mass/get ``msg_status``: https://developers.weixin.qq.com/doc/service/api/notify/message/api_massmsgget
- Account-level codes (ACCOUNT_HOLDS): 89501/89503/89506/89507 and 50004/50007 are listed on the token
  endpoints' error tables (getStableAccessToken / getAccessToken,
  https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken, and the same texts in
  maintained SDKs' code tables, e.g. "89503 此IP调用需要管理员确认,请联系管理员", "50007 账号已冻结").
  89504/89505 (a mass send waiting for the admin's approval / confirmation) follow the issue's reading of the
  sendall doc; we did not find them in a public table we could check (docs/platforms.md says so).
- 40033 "不合法的请求字符，不能包含\\uxxxx格式的字符" (global return codes): we send raw UTF-8 (client.py).
- 45028 "has no masssend quota", 45065 "clientmsgid exist": developers.weixin.qq.com community threads on
  /cgi-bin/message/mass/sendall (the sendall doc page lists the quota: subscription 1/day, service 4/month).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from channels.base import AccountHeld, AuthExpired, ChannelError, PermanentError, Receipt, RetryLater
from channels.scrub import scrub
from core.clock import SHANGHAI

TOKEN_INVALID = frozenset({40001, 40014, 42001})   # refresh once and retry the call once
AUTH_REASONS: dict[int, str] = {
    40013: "公众号 AppID 无效，请核对配置中的 appid",
    40125: "公众号 AppSecret 无效（可能已在公众平台重置），请重新获取并更新配置",
    40164: "本机 IP 不在公众号 IP 白名单中，请在公众平台“设置与开发—基本配置—IP白名单”中添加",
    48001: "公众号没有该接口权限（通常需要完成微信认证），请在公众平台核对接口权限",
}
# The platform holds the whole account until a person acts (AccountHeld: held, alerted, resumed by a person).
ACCOUNT_HOLDS: dict[int, str] = {
    89501: "本机 IP 正在等待公众号管理员确认，请管理员在微信中确认后恢复该账号",
    89503: "本机 IP 调用接口需要公众号管理员确认，请管理员在微信中确认后恢复该账号",
    89506: "本机 IP 已被公众号管理员拒绝两次，24 小时内不能再调用，请与管理员确认后恢复该账号",
    89507: "本机 IP 已被公众号管理员拒绝，1 小时内不能再调用，请与管理员确认后恢复该账号",
    50004: "公众号被禁止使用接口（token 接口被封禁），请在公众平台查看通知并处理后恢复该账号",
    50007: "公众号已被冻结，请在公众平台解冻后恢复该账号",
    89504: "群发需要公众号管理员审核，正在等待审核，请管理员处理后恢复该账号",
    89505: "群发需要公众号管理员确认，正在等待确认，请管理员处理后恢复该账号",
}
KNOWN_PERMANENT: dict[int, str] = {
    40033: "请求含有 \\uxxxx 转义字符，微信拒收（程序缺陷，请报告开发人员）",
    40005: "图片格式不受微信支持（仅支持 jpg/png）",
    40007: "素材 media_id 无效或已被删除",
    40009: "图片大小超过微信限制",
    45002: "正文超过微信长度限制",
    45003: "标题超过微信长度限制",
    45004: "摘要超过微信长度限制",
    45166: "正文内容不合法（例如含有外部图片链接）",
    53503: "草稿未通过发布检查，请在公众平台检查草稿内容",
    53504: "该草稿需前往公众平台官网使用",
    53505: "请先在公众平台官网手动保存该草稿后再发表",
}
PUBLISH_FAILURES: dict[int, str] = {
    2: "原创校验未通过：文章与原创库中不允许转载的文章相同",
    3: "发布失败（微信“常规失败”，未说明原因），请在公众平台发表记录中查看",
    4: "平台审核不通过",
    5: "发布成功后文章已被删除",
    6: "发布成功后文章被系统封禁",
}


def errcode(body: Mapping[str, Any]) -> int:
    try:
        return int(body.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


def next_midnight(now: datetime) -> datetime:
    """The next 00:00 Asia/Shanghai, when WeChat's daily quotas reset."""
    local = now.astimezone(SHANGHAI)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), SHANGHAI)


def next_month(now: datetime) -> datetime:
    local = now.astimezone(SHANGHAI)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=SHANGHAI)


def seconds_until(when: datetime, now: datetime, slack: float = 60.0) -> float:
    return max(slack, (when - now).total_seconds() + slack)


def error_for(body: Mapping[str, Any], *, api: str, now: datetime, token_endpoint: bool = False,
              mass_period: str = "day") -> ChannelError:
    """The typed error for a non-zero errcode."""
    code = errcode(body)
    msg = scrub(str(body.get("errmsg", "")))
    detail = f"wechat {api}: errcode {code} {msg}".strip()
    if code in AUTH_REASONS:
        return AuthExpired(AUTH_REASONS[code], detail, code=code)
    if code in ACCOUNT_HOLDS:
        return AccountHeld(f"{ACCOUNT_HOLDS[code]}（错误码 {code}）", detail, code=code)
    if token_endpoint and code in (40001, 40002):
        # On the token endpoints 40001 means the AppSecret is wrong, not that a token expired.
        return AuthExpired(AUTH_REASONS[40125], detail, code=code)
    if code == 45009:
        return RetryLater("今日微信接口调用次数已达上限，将于北京时间零点后自动重试", detail,
                          retry_after=seconds_until(next_midnight(now), now), code=code)
    if code == 45028:
        if mass_period == "month":
            when, reason = next_month(now), "本月群发次数已用完（服务号每月4次），将于下月1日自动重试"
        else:
            when, reason = next_midnight(now), "今日群发次数已用完（订阅号每天1次），将于明日零点后自动重试"
        return RetryLater(reason, detail, retry_after=seconds_until(when, now), code=code)
    if code == -1:
        return RetryLater("微信系统繁忙，稍后自动重试", detail, retry_after=30, code=code)
    if code in (45011, 45066):
        return RetryLater("微信接口调用过于频繁，一分钟后自动重试", detail, retry_after=60, code=code)
    if code in TOKEN_INVALID:
        return RetryLater("微信 access_token 刷新后仍被拒绝，稍后自动重试", detail, code=code)
    reason = KNOWN_PERMANENT.get(code, "微信接口返回错误")
    return PermanentError(f"{reason}（错误码 {code}：{msg or '无说明'}）", detail, code=code)


def _items(detail: Any) -> list[Mapping[str, Any]]:
    """article_detail.item as a list (JSON gives a list, xmltodict a dict for one element)."""
    if not isinstance(detail, Mapping):
        return []
    item = detail.get("item")
    if isinstance(item, Mapping):
        return [item]
    return [i for i in item or [] if isinstance(i, Mapping)]


def publish_outcome(publish_id: str, data: Mapping[str, Any]) -> Receipt | ChannelError | None:
    """Map a freepublish/get answer or a PUBLISHJOBFINISH event to Receipt / error / None (pending)."""
    try:
        status = int(data.get("publish_status"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        bad = data.get("publish_status")
        return PermanentError("微信发布状态无法识别", f"publish {publish_id}: bad status {bad!r}")
    if status == 1:
        return None
    if status == 0:
        urls = [str(i["article_url"]) for i in _items(data.get("article_detail")) if i.get("article_url")]
        article_id = data.get("article_id")
        return Receipt(external_id=publish_id, url=urls[0] if urls else None,
                       note=f"微信文章ID {article_id}" if article_id else None, raw=dict(data))
    reason = PUBLISH_FAILURES.get(status, f"微信发布失败（未知状态 {status}）")
    fail_idx = data.get("fail_idx")
    return PermanentError(reason, f"publish {publish_id}: publish_status {status} fail_idx {fail_idx}", code=status)


def mass_outcome(external_id: str, status: str, url: str | None = None) -> Receipt | ChannelError | None:
    """Map mass/get ``msg_status`` or the MASSSENDJOBFINISH ``Status`` text."""
    norm = status.strip().upper().replace(" ", "_")
    if norm == "SENDING":
        return None
    if norm in ("SEND_SUCCESS", "SEND_SUCCESSFULLY"):
        return Receipt(external_id=external_id, url=url)
    if norm == "DELETE":
        return PermanentError("群发消息已被删除", f"{external_id}: msg_status DELETE")
    if norm.startswith("ERR("):
        return PermanentError(f"群发审核未通过（{status}）", f"{external_id}: {status}")
    return PermanentError("群发失败", f"{external_id}: status {status!r}")
