"""Per-field length caps and refusals, applied once at intake so no channel, page, feed or log line
sees an unbounded field.

The defaults fit every channel: a title of 300 characters is longer than any State Council or
provincial title seen upstream, and the channels with tighter limits shorten it themselves and say so
(WeChat 32 字 with the full title at the head of the body, Weibo 140 with "…", JPush by payload size).
A body of 500,000 characters is 25 times WeChat's 20,000 (which its renderer cuts to an excerpt with
a link to the original). An oversized field is cut here and the item carries what was cut (field and
original length), shown to operators next to the item.

A title holding U+FFFD (the replacement character) was decoded wrongly somewhere upstream; publishing
it would reprint garbage under a government name, so the entry is refused with a reason instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.content import sanitize

REPLACEMENT = "\ufffd"
ELLIPSIS = "…"
BODY_CUT_NOTE = "<p>（正文过长，以上为节选，全文请见原文链接。）</p>"
FIELD_LABELS = {"title": "标题", "summary": "摘要", "body": "正文"}


class LimitSettings(BaseModel):
    """``[limits]``: characters per field, and how long a body must be to prove two documents the same."""

    model_config = ConfigDict(extra="forbid")

    title_chars: int = Field(300, ge=40, le=10_000)
    summary_chars: int = Field(300, ge=40, le=10_000)
    body_chars: int = Field(500_000, ge=20_000, le=5_000_000)
    substantive_body_chars: int = Field(80, ge=10, le=10_000)   # shorter bodies never merge items by hash


class RefusedEntry(Exception):
    """An entry that must not be published as it stands; ``str()`` is the reason, in Chinese."""


def refusal(title: str) -> str | None:
    """Why an entry with this title must be refused, or None."""
    if REPLACEMENT in title:
        shown = title[:60] + (ELLIPSIS if len(title) > 60 else "")
        return (f"标题含无法识别的字符（U+FFFD），疑为来源编码错误，已拒收、不发布：{shown}"
                "（请核对来源的字符编码，或在配置中为该来源指定 encoding）")
    return None


def cap_text(text: str, limit: int) -> tuple[str, int | None]:
    """``text`` at most ``limit`` characters (the last one "…" when cut), and the original length when cut."""
    if len(text) <= limit:
        return text, None
    return text[: limit - 1] + ELLIPSIS, len(text)


def cap_html(html: str, limit: int, base_url: str) -> tuple[str, int | None]:
    """Sanitised HTML cut to at most ``limit`` characters at a tag boundary, re-sanitised (closing what the cut
    left open) and followed by a note; and the original length when cut. CPU-bound: call it off the loop."""
    if len(html) <= limit:
        return html, None
    budget = limit - len(BODY_CUT_NOTE)
    room = budget
    while True:                                      # re-sanitising closes what the cut left open
        cut = html.rfind("<", 0, room)
        out = sanitize(html[: cut if cut > room // 2 else room], base_url)
        if len(out) <= budget or room < 100:
            return out[:budget] + BODY_CUT_NOTE, len(html)
        room -= len(out) - budget + 16


def truncation_text(truncated: tuple[tuple[str, int], ...], limits: dict[str, int] | None = None) -> str:
    """What was cut, for operators: 标题过长已截断（原 1000000 字）."""
    parts = []
    for name, original in truncated:
        cap = f"，保留 {limits[name]} 字" if limits and name in limits else ""
        parts.append(f"{FIELD_LABELS.get(name, name)}过长已截断（原 {original} 字{cap}）")
    return "；".join(parts)
