"""`main.py calendar propose --from URL|FILE` and `main.py calendar confirm YEAR`.

``propose`` reads a notice the way the hub reads an upstream item (a gov.cn article page by URL or
saved file, or the notice's plain text), checks it and keeps the draft in the store, where a running
hub's dashboard and console see it. ``confirm`` writes the draft as config/calendar/<year>.toml and
recomputes deadlines as ``main.py reload`` does (a running hub also notices the new file itself).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path

import aiohttp

from core.fetch import Fetcher
from feeds.article import parse_article
from feeds.specs import ArticleSpec
from syndicator.calendar_notices import CalendarNotices
from syndicator.cli_common import UserError, calendar_for, settings_from, store_for
from syndicator.config import Settings
from syndicator.delay_log import DelayLog
from syndicator.holiday_notice import TITLE
from syndicator.recompute import recompute_deadlines

CLI_ACTOR = "命令行"
# gov.cn article pages: title div.share-title, body div.TRS_UEDITOR or #UCAP-CONTENT, meta firstpublishedtime
# (the selectors of config/sources/gov-cn-*.toml; RSSHub lib/routes/gov/zhengce).
GOV_ARTICLE = ArticleSpec(title=["div.share-title"])


def _read_file(source: str) -> tuple[str, str]:
    path = Path(source)
    return path.read_text(encoding="utf-8"), path.resolve().as_uri()


async def _read(source: str, settings: Settings) -> tuple[str, str, str, datetime | None]:
    """(title, body, url, published_at) of a notice given as a URL or a file."""
    if source.startswith(("http://", "https://")):
        f = settings.fetch
        async with aiohttp.ClientSession() as session:
            page = await Fetcher(session, user_agent=f.user_agent, timeout=f.timeout_seconds, max_bytes=f.max_bytes,
                                 max_redirects=f.max_redirects).fetch(source)
        text, url = page.text, page.url
    else:
        try:
            text, url = await asyncio.to_thread(_read_file, source)
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {source}: {exc}") from None
        if not Path(source).suffix.lower().startswith(".htm"):
            title = TITLE.search(text)
            return (title.group(0) if title else text.strip().splitlines()[0] if text.strip() else "", text, url, None)
    article = parse_article(text, url, GOV_ARTICLE)
    return article.title, article.content_html, url, article.published_at


async def run_calendar(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    calendar = calendar_for(settings)
    delay_log = DelayLog(settings.path(settings.hub.data_dir) / "delays.jsonl", tz=settings.deadlines.tz)
    try:
        async with store_for(settings) as store:
            async def alert(subject: str, message: str) -> None:
                await store.add_alert(subject, message, store.clock.now())

            async def reload() -> int:
                calendar.reload()
                result = await recompute_deadlines(store, calendar, settings.deadlines_for, store.clock.now(),
                                                   delay_log)
                return result.changed

            notices = CalendarNotices(store, calendar, store.clock, alert, reload, settings.deadlines.tz)
            if args.action == "confirm":
                if args.year is None:
                    raise UserError("usage: main.py calendar confirm YEAR")
                ok, message = await notices.confirm(args.year, CLI_ACTOR)
                print(message, file=sys.stdout if ok else sys.stderr)
                return 0 if ok else 1
            if not args.source:
                raise UserError("usage: main.py calendar propose --from URL|FILE")
            title, body, url, published_at = await _read(args.source, settings)
            record = await notices.observe(title, body, url, published_at, CLI_ACTOR)
    finally:
        delay_log.close()
    if record is None:
        print(f"not the holiday notice, or a year chinese-calendar already covers: {title[:60]!r}", file=sys.stderr)
        return 1
    if not record["valid"]:
        print(f"{record['year']}年通知校验未通过，需人工核对：\n" + "\n".join(record["problems"]), file=sys.stderr)
        return 1
    print(record["draft"])
    year = record["year"]
    print(f"草案已保存，待确认：python main.py calendar confirm {year}"
          f"（或看板、控制台“确认日历 {year}”）", file=sys.stderr)
    return 0
