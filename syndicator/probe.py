"""`sources probe ID`: fetch one source once and print the items it would produce. Stores nothing."""

from __future__ import annotations

import json
import sys

import aiohttp

from feeds.fetch import Fetcher
from feeds.model import FetchError, ParseError
from feeds.reader import SourceReader
from feeds.rules import required_by
from syndicator.app import browser_factory
from syndicator.config import Settings, SourceSettings
from syndicator.content_limits import refusal


async def probe_source(settings: Settings, source: SourceSettings, *, limit: int = 10) -> int:
    f = settings.fetch
    async with aiohttp.ClientSession() as session:
        reader = SourceReader(Fetcher(session, user_agent=f.user_agent, timeout=f.timeout_seconds,
                                      max_bytes=f.max_bytes, max_redirects=f.max_redirects,
                                      per_host=f.per_host_concurrency), browser_factory(settings))
        try:
            try:
                result = await reader.read(source)
            except (FetchError, ParseError) as exc:
                print(f"error: source {source.id}: {exc}", file=sys.stderr)
                return 1
            for n, entry in enumerate(result.entries):
                rule = required_by(entry, source.rules)
                problem = refusal(entry.title)     # intake would refuse it: say so, never "fine"
                if rule is not None and n < limit and problem is None:
                    try:
                        entry = await reader.complete(source, entry)
                    except Exception as exc:
                        problem = f"article page: {exc}"
                print(json.dumps({
                    "source": source.id, "title": entry.title, "url": entry.url, "guid": entry.stable_id,
                    "published_at": entry.published_at.isoformat() if entry.published_at else None,
                    "published_raw": entry.published_raw, "date_problem": entry.date_problem,
                    "required": rule is not None, "rule": rule.name if rule else None,
                    "content_chars": len(entry.content), "categories": list(entry.categories),
                    "extra": entry.extra, "problem": problem,
                }, ensure_ascii=False))
        finally:
            await reader.close()
    return 0
