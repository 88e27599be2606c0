"""HTML building blocks for the dashboard: escaped by default, one inline stylesheet, one script file.

Anything that is not an ``Html`` instance is escaped when it goes into a table or a page, so a
hostile upstream title or error text can only ever appear as text. The stylesheet is inlined and
allowed by its hash in the Content-Security-Policy; the only script is the live pages' file served by
the dashboard itself (``script-src 'self'``, syndicator.dashboard.live); no inline script runs anywhere,
and every page works without it.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from syndicator.dashboard import access
from syndicator.labels import ACCOUNT_STATE_LABELS as ACCOUNT_STATE_LABELS  # re-exported: one set of labels
from syndicator.labels import DELAY_KIND_LABELS as DELAY_KIND_LABELS
from syndicator.labels import STATE_LABELS, channel_label, hours_text, local_text

CSS = (Path(__file__).parent / "static" / "dashboard.css").read_text(encoding="utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'self' data:; script-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
}

NAV = (("/", "总览"), ("/deliveries", "投递"), ("/delays", "延误记录"), ("/sources", "信息源"), ("/alerts", "提醒"),
       ("/audit", "操作记录"), ("/report", "月报"))


class Html(str):
    """Markup that is already safe; everything else is escaped."""


def esc(value: Any) -> Html:
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(sep.join(esc(p) for p in parts))


def tag(name: str, content: Any = "", **attrs: Any) -> Html:
    """<name attr="…">content</name>; ``class_`` → class; None/False attributes are left out."""
    rendered = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' if v is not True else f" {k}"
                       for k, v in attrs.items() if v is not None and v is not False)
    return Html(f"<{name}{rendered}>{esc(content)}</{name}>")


def when(t: datetime | None) -> Html:
    return esc(local_text(t)) if t else Html('<span class="zero">—</span>')


def hours(h: float | None) -> str:
    return "" if h is None else hours_text(h)


def every(seconds: float) -> str:
    """A polling interval as a person says it: 每 5 秒, 每 10 分钟, 每 1.5 小时, 每 1 天."""
    for unit, size in (("天", 86400), ("小时", 3600), ("分钟", 60)):
        if seconds >= size:
            value = seconds / size
            return f"每 {value:.1f} {unit}".replace(".0 ", " ")
    return f"每 {seconds:.0f} 秒"


SOURCE_KINDS = {"rss": "RSS 订阅", "atom": "Atom 订阅", "html": "网页列表", "json": "数据接口"}


def channel_name(kind: str) -> str:
    return channel_label(kind)


def state_tag(state: str, labels: Mapping[str, str] = STATE_LABELS) -> Html:
    return tag("span", labels.get(state, state), class_=f"tag s-{state}")


def num(n: int | float | None, cls: str = "") -> Html:
    if not n:
        return Html('<td class="num zero">0</td>')
    return tag("td", n, class_=f"num {cls}".strip())


def link(href: str, text: Any, **query: Any) -> Html:
    q = {k: v for k, v in query.items() if v not in (None, "")}
    return tag("a", text, href=href + ("?" + urlencode(q) if q else ""))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "暂无数据",
          numeric: Sequence[int] = (), compact: bool = False) -> Html:
    """Cells that are ``Html`` starting with ``<td`` are used as they are; anything else becomes an escaped <td>."""
    head = join(tag("th", h, class_="num" if i in numeric else None) for i, h in enumerate(headers))
    labels = [f' data-label="{esc(h)}"' if h else "" for h in headers]
    body = []
    for row in rows:
        # each cell carries its column's name: on a phone the table turns into cards that show it
        cells = [Html((c if isinstance(c, Html) and c.startswith("<td") else tag("td", c))
                      .replace("<td", f"<td{labels[i] if i < len(labels) else ''}", 1))
                 for i, c in enumerate(row)]
        body.append(Html(f"<tr>{''.join(cells)}</tr>"))
    if not body:
        body.append(Html(f'<tr><td colspan="{len(headers)}" class="muted">{esc(empty)}</td></tr>'))
    return Html(f'<div class="scroll"><table{" class=compact" if compact else ""}><thead><tr>{head}</tr></thead>'
                f'<tbody>{"".join(body)}</tbody></table></div>')


def hidden(**fields: Any) -> Html:
    return join(Html(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">') for k, v in fields.items())


def action_form(action: str, csrf: str, back: str, button: str, *, reason: str | None = None,
                secondary: bool = False, **fields: Any) -> Html:
    """A small POST form with the CSRF token; ``reason`` adds a text input (required when not empty).
    Nothing at all when the current person's role may not take the action (syndicator.dashboard.access)."""
    if not access.may(action):
        return Html("")
    extra = ""
    if reason is not None:
        extra = (f'<input class="reason" name="reason" maxlength="200" placeholder="{esc(reason or "理由（可选）")}"'
                 f'{" required" if reason else ""} aria-label="理由">')
    btn = f'<button type="submit"{" class=sec" if secondary else ""}>{esc(button)}</button>'
    return Html(f'<form class="inline" method="post" action="{esc(action)}">{hidden(csrf=csrf, next=back, **fields)}'
                f"{extra}{btn}</form>")


def select(name: str, options: Sequence[tuple[str, str]], chosen: str | None, label: str) -> Html:
    opts = join(Html(f'<option value="{esc(v)}"{" selected" if v == (chosen or "") else ""}>{esc(t)}</option>')
                for v, t in options)
    return Html(f'<label>{esc(label)}<select name="{esc(name)}">{opts}</select></label>')


def text_input(name: str, value: str | None, label: str, kind: str = "text", placeholder: str = "") -> Html:
    return Html(f'<label>{esc(label)}<input type="{esc(kind)}" name="{esc(name)}" value="{esc(value or "")}"'
                f' placeholder="{esc(placeholder)}"></label>')


def filters(action: str, controls: Iterable[Html], extra: Any = "") -> Html:
    more = f'<span class="extra">{esc(extra)}</span>' if extra else ""
    return Html(f'<form class="filters" method="get" action="{esc(action)}">{join(controls)}'
                f'<button type="submit">筛选</button>{more}</form>')


def whole_number(text: Any, digits: int = 15) -> int | None:
    """A form or query value as a non-negative whole number, else None (str.isdigit alone accepts '²')."""
    text = str(text if text is not None else "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


def page_number(query: Mapping[str, str]) -> tuple[int, str | None]:
    """The 1-based ``page=`` of a listing; a bad value falls back to page 1 with a note to show."""
    raw = query.get("page", "").strip()
    if not raw:
        return 1, None
    number = whole_number(raw, 6)
    if number:
        return number, None
    return 1, f"页码“{raw[:20]}”无效，已显示第 1 页"


def page_count(total: int, size: int) -> int:
    return max(1, -(-total // size))


def pager(path: str, query: Mapping[str, str], page: int, pages: int) -> Html:
    """"第 N 页 / 共 M 页" with previous/next links that keep the other filters."""
    keep = [(k, v) for k, v in query.items() if k not in ("page", "csrf") and v != ""]

    def to(n: int, text: str) -> Html:
        return tag("a", text, href=path + "?" + urlencode([*keep, ("page", n)]))

    prev = to(page - 1, "← 上一页") if page > 1 else tag("span", "← 上一页", class_="zero")
    nxt = to(page + 1, "下一页 →") if page < pages else tag("span", "下一页 →", class_="zero")
    return Html(f'<nav class="pager" aria-label="分页">{prev}<span>第 {page} 页 / 共 {pages} 页</span>{nxt}</nav>')


def respond(body: str, status: int = 200, *, content_type: str = "text/html") -> web.Response:
    return web.Response(text=body, status=status, content_type=content_type, charset="utf-8",
                        headers=SECURITY_HEADERS)


def page(title: str, body: Any, *, path: str = "", user: str | None = None, csrf: str = "",
         flash: tuple[bool, str] | None = None, status: int = 200, live: str | None = None) -> web.Response:
    """``live``: the time the page's data was read ("HH:MM:SS"); the page then updates itself."""
    nav = join(tag("a", text, href=href, class_="on" if href == path else None) for href, text in NAV)
    who = ""
    if user:
        who = Html(f'<div class="who"><span>{esc(user)}</span><form class="inline" method="post" action="/logout">'
                   f'{hidden(csrf=csrf)}<button type="submit">退出</button></form></div>')
    note = tag("div", flash[1], class_="flash ok" if flash[0] else "flash err", role="status") if flash else ""
    doc = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>{esc(title)} · 转载中枢</title><style>{CSS}</style>{_live_script(live)}</head><body>"
           f'<header><div class="brand">转载中枢 · 运行看板</div><nav>{nav if user else ""}</nav>{who}</header>'
           f"<main>{note}<h1>{esc(title)}</h1>{_live_stamp(live)}{esc(body)}</main></body></html>")
    return respond(doc, status)


def _live_script(live: str | None) -> str:
    return "" if live is None else '<script src="/static/live.js" defer></script>'


def _live_stamp(live: str | None) -> Html:
    if live is None:
        return Html("")
    return Html(f'<p class="live"><span data-live-stamp="/live/events" aria-live="polite">'
                f"更新于 {esc(live)}（北京时间）</span></p>")


def login_page(token: str, back: str, error: str | None = None, status: int = 200) -> web.Response:
    err = tag("div", error, class_="flash err", role="alert") if error else ""
    body = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录 · 转载中枢</title>'
            f'<style>{CSS}</style></head><body><header><div class="brand">转载中枢 · 运行看板</div></header>'
            f'<div class="login"><h1>运维人员登录</h1>{err}<form method="post" action="/login">'
            f"{hidden(csrf=token, next=back)}"
            f'<label for="u">用户名</label><input id="u" name="username" autocomplete="username" required autofocus>'
            f'<label for="p">密码</label><input id="p" name="password" type="password"'
            f' autocomplete="current-password" required><button type="submit">登录</button></form>'
            f'<p class="muted">本系统数据仅供内部使用。</p></div></body></html>')
    return respond(body, status)


_BINS = ((1, "≤1小时"), (4, "1–4小时"), (8, "4–8小时"), (24, "8–24小时"), (48, "1–2天"), (72, "2–3天"),
         (float("inf"), ">3天"))


def lateness_chart(late_hours: Sequence[float]) -> Html:
    """Inline SVG histogram of how late late deliveries were (clock hours after the deadline)."""
    counts = [0] * len(_BINS)
    for h in late_hours:
        counts[next(i for i, (top, _) in enumerate(_BINS) if h <= top)] += 1
    w, h_, left, bottom, top_pad = 640, 230, 44, 36, 22
    plot_w, plot_h = w - left - 12, h_ - bottom - top_pad
    peak = max(counts) or 1
    step = -(-peak // 4)                       # at most 4 grid steps, whole numbers
    ymax = step * -(-peak // step)
    parts = [f'<svg viewBox="0 0 {w} {h_}" role="img" aria-label="近30天超时发布时长分布" xmlns="http://www.w3.org/2000/svg">',
             "<title>近30天超时发布时长分布（条数）</title>"]
    for i in range(ymax // step + 1):
        y = top_pad + plot_h - plot_h * i * step / ymax
        parts.append(f'<line x1="{left}" x2="{w - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e8ee"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#66788a">'
                     f"{step * i}</text>")
    slot = plot_w / len(_BINS)
    for i, ((_, label), n) in enumerate(zip(_BINS, counts, strict=True)):
        bar_h = plot_h * n / ymax
        x = left + i * slot + slot * 0.18
        y = top_pad + plot_h - bar_h
        colour = "#d97706" if i < 3 else "#b91c1c"
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.64:.1f}" height="{bar_h:.1f}" fill="{colour}"'
                     f' rx="2"><title>{esc(label)}：{n} 条</title></rect>')
        if n:
            parts.append(f'<text x="{x + slot * 0.32:.1f}" y="{y - 5:.1f}" text-anchor="middle" font-size="12"'
                         f' fill="#1f2933">{n}</text>')
        parts.append(f'<text x="{left + (i + 0.5) * slot:.1f}" y="{h_ - bottom + 18}" text-anchor="middle"'
                     f' font-size="12" fill="#334e68">{esc(label)}</text>')
    parts.append(f'<line x1="{left}" x2="{w - 12}" y1="{top_pad + plot_h}" y2="{top_pad + plot_h}" stroke="#9aa5b1"/>')
    parts.append("</svg>")
    return Html("".join(parts))
