"""`sources probe ID`: fetch one source once and print the items it would produce. Stores nothing.

Each item is a JSON line on stdout, with the first 200 characters of its body text (``body_head``)
and any body or date problem, so a menu extracted as the article is seen at once. Then one summary
line on stderr (items found, list pages read, problems). The exit status is non-zero when the source
yields nothing or its list cannot be read: a probe of a wrong selector must not look like success.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import aiohttp

from core.content import to_text
from core.fetch import Fetcher, FetchError
from feeds.model import ParseError
from feeds.reader import SourceReader
from feeds.rules import required_by
from feeds.snapshot import record_sources
from syndicator.app import browser_factory
from syndicator.config import Settings, SourceSettings
from syndicator.content_limits import refusal


def _fetcher(settings: Settings, session: aiohttp.ClientSession) -> Fetcher:
    f = settings.fetch
    return Fetcher(session, user_agent=f.user_agent, timeout=f.timeout_seconds, max_bytes=f.max_bytes,
                   max_redirects=f.max_redirects, per_host=f.per_host_concurrency)


async def snapshot_sources(settings: Settings, sources: list[SourceSettings], out: Path, *, articles: int) -> int:
    """`sources snapshot`: record each source's raw responses (feeds.snapshot); non-zero when any
    source could not be read or listed nothing."""
    async with aiohttp.ClientSession() as session:
        manifest = await record_sources(_fetcher(settings, session), browser_factory(settings), sources, out,
                                        articles)
    bad = 0
    for source_id, summary in manifest["sources"].items():
        entries = summary.get("entries", 0)
        bad += bool(summary.get("error") or not entries)
        print(f"source {source_id}: {entries} items, {summary.get('pages', 0)} list page(s)"
              f"{' — ' + summary['error'] if summary.get('error') else ''}", file=sys.stderr)
    print(f"snapshot: {len(manifest['responses'])} responses in {out}", file=sys.stderr)
    return 2 if bad else 0


async def probe_source(settings: Settings, source: SourceSettings, *, limit: int = 10) -> int:
    async with aiohttp.ClientSession() as session:
        reader = SourceReader(_fetcher(settings, session), browser_factory(settings))
        try:
            try:
                result = await reader.read(source)
            except (FetchError, ParseError) as exc:
                print(f"error: source {source.id}: {exc}", file=sys.stderr)
                print(f"source {source.id}: 0 items, list unreadable — FAILED", file=sys.stderr)
                return 1
            problems = list(result.warnings)
            for n, entry in enumerate(result.entries):
                rule = required_by(entry, source.rules)
                problem = refusal(entry.title)     # intake would refuse it: say so, never "fine"
                if rule is not None and n < limit and problem is None:
                    try:
                        entry = await reader.complete(source, entry)
                    except Exception as exc:
                        problem = f"article page: {exc}"
                    problem = problem or (f"正文提取异常：{entry.body_problem}" if entry.body_problem else None)
                problems += [p for p in (problem, entry.date_problem) if p]
                print(json.dumps({
                    "source": source.id, "title": entry.title, "url": entry.url, "guid": entry.stable_id,
                    "published_at": entry.published_at.isoformat() if entry.published_at else None,
                    "published_raw": entry.published_raw, "date_problem": entry.date_problem,
                    "required": rule is not None, "rule": rule.name if rule else None,
                    "content_chars": len(entry.content), "body_head": to_text(entry.content)[:200],
                    "body_problem": entry.body_problem, "categories": list(entry.categories),
                    "extra": entry.extra, "problem": problem,
                }, ensure_ascii=False))
        finally:
            await reader.close()
    found = len(result.entries)
    verdict = "FAILED: the source yields nothing" if not found else ("with problems" if problems else "OK")
    first = f"; first: {problems[0][:160]}" if problems else ""
    print(f"source {source.id}: {found} items, {result.pages} list page(s) read, {len(problems)} problem(s)"
          f"{first} — {verdict}", file=sys.stderr)
    return 0 if found else 2
