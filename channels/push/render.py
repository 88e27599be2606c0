"""An item as one JPush v3 notification to the unit's tag, shortened to the documented size limits.

Pure functions only; ``JPushChannel.render`` calls ``render_push``.

Protocol facts, JPush Push API v3 (https://docs.jiguang.cn/jpush/server/push/rest_api_v3_push, stored copy
github.com/jpush/jpush-docs zh/JPush/docs/server/push/rest_api_v3_push.md):
- body ``{platform, audience, notification, message, options}``; ``platform`` "all" or a list of "android", "ios".
- ``audience.tag``: "一次推送最多 20 个 … 有效的 tag 组成：字母（区分大小写）、数字、下划线、汉字、特殊字符@!#$&*+=.|￥
  … 每一个 tag 的长度限制为 40 字节（判断长度需采用UTF-8编码）".
- size (error 1005 消息体太大): "Android平台Notification+Message长度限制为4000字节；iOS Notification 中 “iOS”:{ } 及
  大括号内的总体长度不超过：2000个字节（包括自定义参数和符号）… JPush 使用 utf-8 编码，所以一个汉字占用 3 个字节长度".
  (docs/facts.md records the same numbers; older revisions said 1000 bytes for Android, superseded.)
- ``options.time_to_live`` "默认 86400 （1 天），最长 10 天"; ``apns_production`` "True 表示推送生产环境 …
  如果不指定则为推送生产环境" (the official SDKs default to False, so we always send it).
- ``options.classification``: 0 运营消息 / 1 系统消息, used to pick the Android vendor channel's message class.
  Documented on the current docs.jiguang.cn page only (not in the stored repo copy); reprinted policy news is
  运营/资讯 content, so the default is 0. Vendors cap news-class pushes per device per day
  (docs/platforms.md, "Client apps").
- Vendor channels truncate or reject long texts (e.g. Huawei title 40 / body 80 characters, vivo title 20 汉字;
  https://cloud.tencent.com/document/product/548/41760), hence ``alert_max_chars`` / ``title_max_chars``.
- ``extras`` (android / ios) is free-form: "这里自定义 JSON 格式的 Key/Value 信息，以供业务使用" (same page). The app
  gets the source credit and the original link there as structured fields; the credit also ends the alert (room
  reserved before the title is cut) unless ``alert_credit = false`` or ``alert_max_chars`` is too small for it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from channels.base import PermanentError
from core.content import source_line
from core.models import Item, UnitRef

ANDROID_MAX_BYTES = 4000
IOS_MAX_BYTES = 2000
TAG_MAX_BYTES = 40
_TAG_OK = re.compile(r"^[A-Za-z0-9_\u4e00-\u9fff@!#$&*+=.|￥]+$")
_WS = re.compile(r"\s+")
ELLIPSIS = "…"
_MIN_TITLE_CHARS = 8          # below this the alert keeps the title and the credit stays in extras only


# Android vendor channels (JPush "厂商消息分类使用指南", https://docs.jiguang.cn/jpush/client/Android/android_channel_id,
# and the push API's third_party_channel table): Xiaomi has "已经没有默认消息分类了" — a push without the 公信/私信
# channel_id is not delivered; Huawei limits 资讯营销 pushes per device per day (2023-01-05 rules) and
# classifies unclassified ones itself; OPPO / vivo / Honor likewise. JPush still answers 200 either way.
# Defaults for a government news app: reprinted policy news is 资讯 (公信/运营) content, never 私信/系统 —
# Huawei importance LOW + category MARKETING (资讯营销), Honor importance LOW, vivo classification 0 (运营消息)
# + category NEWS, OPPO category NEWS + notify_level 2 (通知栏+锁屏). Xiaomi needs the 公信 channel_id the app was
# granted on the 小米推送 platform: there is no default, and without one the receipt says Xiaomi phones miss it.
VENDORS = ("xiaomi", "huawei", "honor", "oppo", "vivo")
VENDOR_NAMES = {"xiaomi": "小米", "huawei": "华为", "honor": "荣耀", "oppo": "OPPO", "vivo": "vivo"}
DEFAULT_VENDOR_OPTIONS: dict[str, dict[str, Any]] = {
    "xiaomi": {},
    "huawei": {"importance": "LOW", "category": "MARKETING"},
    "honor": {"importance": "LOW"},
    "oppo": {"category": "NEWS", "notify_level": 2},
    "vivo": {"classification": 0, "category": "NEWS"},
}
# What makes a vendor's message classified (what the JPush look-alike checks for, independently).
VENDOR_CLASS_KEYS = {"xiaomi": "channel_id", "huawei": "category", "honor": "importance", "oppo": "category",
                     "vivo": "classification"}


class JPushOptions(BaseModel):
    """``account.options`` of a JPush (client app) account."""

    model_config = ConfigDict(extra="forbid")

    audience_tag_template: str = "{unit_id}"        # fields: unit_id, unit_name
    platform: list[Literal["android", "ios"]] = ["android", "ios"]
    time_to_live: int = Field(86_400, ge=0, le=864_000)
    apns_production: bool = True
    classification: Literal[0, 1] = 0
    title_prefix: str = ""                          # put before the item title in the alert, e.g. "【转载】"
    notification_title: str | None = None           # Android notification title; default the unit's name
    url_template: str | None = None                 # link the app opens; fields url, item_id, guid, unit_id
    alert_max_chars: int = Field(80, ge=10, le=1000)
    alert_credit: bool = True                       # end the alert with （转载自 …） when it fits
    title_max_chars: int = Field(20, ge=4, le=100)
    on_no_target: Literal["fail", "note"] = "fail"  # what 1011 (no device has the tag) means, see channel
    android_channel_id: str | None = Field(None, max_length=1000)   # notification.android.channel_id (app-side)
    # options.third_party_channel, merged over DEFAULT_VENDOR_OPTIONS per vendor; {} for a vendor the app lacks
    third_party_channel: dict[Literal["xiaomi", "huawei", "honor", "oppo", "vivo"], dict[str, Any]] = {}
    connect_retries: int = Field(2, ge=0, le=5)
    timeout_s: float = Field(30.0, gt=0)


def _glued(ch: str) -> bool:
    return unicodedata.combining(ch) > 0 or 0xFE00 <= ord(ch) <= 0xFE0F or ch == "\u200d" or (
        0x1F3FB <= ord(ch) <= 0x1F3FF)


def cut_chars(text: str, max_chars: int) -> str:
    """``text`` to at most ``max_chars`` characters, ending in "…" when cut, never inside a character."""
    if len(text) <= max_chars:
        return text
    end = max(0, max_chars - len(ELLIPSIS))
    while end and (_glued(text[end]) or text[end - 1] == "\u200d"):
        end -= 1
    head = text[:end].rstrip("，、；：,;: 　《“（(【")
    return head + ELLIPSIS if head else ""


def payload_bytes(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def audience_tag(unit: UnitRef, options: JPushOptions) -> str:
    try:
        tag = options.audience_tag_template.format(unit_id=unit.id, unit_name=unit.name)
    except (KeyError, IndexError, ValueError):
        raise PermanentError("极光推送受众标签模板配置有误，请管理员修正 audience_tag_template",
                             f"bad audience_tag_template {options.audience_tag_template!r}") from None
    if not _TAG_OK.match(tag) or len(tag.encode("utf-8")) > TAG_MAX_BYTES:
        raise PermanentError(
            f"极光推送受众标签“{tag}”不合法（只允许字母、数字、下划线、汉字和 @!#$&*+=.|￥，最长40字节）",
            f"invalid JPush tag {tag!r}")
    return tag


def open_url(item: Item, unit: UnitRef, options: JPushOptions) -> str:
    if not options.url_template:
        return item.url or item.canonical_url   # canonical_url is a scheme-less de-dup key, not a link
    try:
        return options.url_template.format(url=item.url or item.canonical_url, item_id=item.id, guid=item.guid,
                                           unit_id=unit.id)
    except (KeyError, IndexError, ValueError):
        raise PermanentError("极光推送链接模板配置有误，请管理员修正 url_template",
                             f"bad url_template {options.url_template!r}") from None


def _build(alert: str, title: str, url: str, tag: str, options: JPushOptions, sendno: int | None,
           extras: dict[str, str]) -> dict[str, Any]:
    notification: dict[str, Any] = {"alert": alert}
    if "android" in options.platform:
        notification["android"] = {"alert": alert, "title": title, "extras": {"url": url, **extras}}
        if options.android_channel_id:
            notification["android"]["channel_id"] = options.android_channel_id
    if "ios" in options.platform:
        notification["ios"] = {"alert": alert, "sound": "default", "extras": {"url": url, **extras}}
    opts: dict[str, Any] = {"time_to_live": options.time_to_live, "apns_production": options.apns_production,
                            "classification": options.classification}
    if sendno is not None:
        opts["sendno"] = sendno
    if "android" in options.platform:
        opts["third_party_channel"] = vendor_channels(options)
    return {"platform": list(options.platform), "audience": {"tag": [tag]}, "notification": notification,
            "options": opts}


def vendor_channels(options: JPushOptions) -> dict[str, dict[str, Any]]:
    """options.third_party_channel: the account's settings over the government-news defaults."""
    return {v: {**DEFAULT_VENDOR_OPTIONS[v], **options.third_party_channel.get(v, {})} for v in VENDORS}


def unclassified_vendors(options: JPushOptions) -> list[str]:
    """Vendors whose phones will not show the push as configured (Xiaomi without its 公信 channel_id)."""
    channels = vendor_channels(options)
    return [v for v in VENDORS if channels[v].get(VENDOR_CLASS_KEYS[v]) in (None, "")]


def fits(payload: dict[str, Any]) -> bool:
    """Within 4000 bytes for Android (notification part) and 2000 for ``"ios":{...}``."""
    notification = payload["notification"]
    android = {k: v for k, v in notification.items() if k not in ("ios",)}
    if "android" in notification and payload_bytes(android) > ANDROID_MAX_BYTES:
        return False
    return "ios" not in notification or len(b'"ios":') + payload_bytes(notification["ios"]) <= IOS_MAX_BYTES


def alert_text(item: Item, options: JPushOptions) -> str:
    """The alert's own text before any shortening: prefix + title, whitespace folded."""
    return _WS.sub(" ", options.title_prefix + item.title).strip() or "转载通知"


def alert_credit(item: Item, options: JPushOptions) -> str:
    """The credit that ends the alert, or "" when switched off or when it would crowd out the title."""
    credit = f"（{source_line(item)}）"
    if not options.alert_credit or options.alert_max_chars - len(credit) < _MIN_TITLE_CHARS:
        return ""
    return credit


def full_alert(item: Item, options: JPushOptions) -> str:
    """The alert before any shortening: prefix + title + credit."""
    return alert_text(item, options) + alert_credit(item, options)


def render_push(item: Item, unit: UnitRef, options: JPushOptions, sendno: int | None = None) -> dict[str, Any]:
    """The /v3/push body. The title part of the alert is shortened until the payload fits (the credit is kept);
    only a payload that still does not fit gives up the credit, extras last. PermanentError if nothing fits."""
    tag = audience_tag(unit, options)
    url = open_url(item, unit, options)
    title = cut_chars(_WS.sub(" ", options.notification_title or unit.name).strip(), options.title_max_chars)
    text, wanted = alert_text(item, options), alert_credit(item, options)
    source = {"source": source_line(item)}
    full = source | ({"source_url": item.url} if item.url != url else {})
    # What gives way, in order, when even a one-character title does not fit (only huge links do that).
    for extras, credit in ((full, wanted), (source, wanted), (source, ""), ({}, "")):
        alert = cut_chars(text, options.alert_max_chars - len(credit))
        payload = _build(alert + credit, title, url, tag, options, sendno, extras)
        if fits(payload):
            return payload
        low, high = 1, len(alert) - 1                # longest alert that fits, by bisection
        best: dict[str, Any] | None = None
        while low <= high:
            middle = (low + high) // 2
            cut = cut_chars(text, middle)
            candidate = _build(cut + credit, title, url, tag, options, sendno, extras)
            if cut and fits(candidate):
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        if best is not None:
            return best
    raise PermanentError("推送内容超过极光大小限制（Android 4000 字节 / iOS 2000 字节），且无法通过截短标题解决，"
                         "请检查链接模板", f"payload too large even with a 1-char alert (url {len(url)} chars)")
