"""Feed parsing: our settings vs feedparser's defaults on State Council-like feeds of ~6 KB and ~600 KB.

    python bench/parse.py
    python bench/parse.py --repeats-small 500 --repeats-large 20

Feeds are generated (bench/_common.state_council_feed): RSS 2.0, Chinese titles, HTML descriptions
with headed sections, indented paragraphs, task tables, images and relative links.

  ours       feeds.rss.parse_feed(text, url, fast=True): DOCTYPE/ENTITY guard, UTF-8 encode,
             feedparser with sanitize_html=False and resolve_relative_uris=False, Entry objects
  defaults   feedparser.parse(same bytes, same response headers) with its defaults
             (sanitize_html=True, resolve_relative_uris=True)
Also shown: parse_feed(fast=False) (our wrapper with feedparser's expensive options on), the guard
alone, and "ours + sanitize": the fast parse plus core.content.sanitize (nh3 + lxml link
absolutising, what intake does per new entry) of every entry, i.e. the cost when every entry is new.
Calls alternate between variants; figures are medians of wall time per call (single thread).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import _common
import feedparser
from _common import fmt, state_council_feed

from core.content import sanitize
from feeds.model import ParseError
from feeds.rss import parse_feed, reject_entity_declarations

URL = "https://www.gov.cn/zhengce/zuixin/rss.xml"
HEADERS = {"content-type": "application/xml; charset=utf-8", "content-location": URL}


def sized_feed(items: int, target_bytes: int) -> str:
    """A feed of ``items`` entries whose UTF-8 size is close to ``target_bytes``."""
    body = 400
    text = state_council_feed(items, body)
    for _ in range(6):
        size = len(text.encode())
        if abs(size - target_bytes) < target_bytes * 0.03:
            break
        body = max(50, int(body * target_bytes / size))
        text = state_council_feed(items, body)
    return text


def variants(text: str) -> dict[str, Callable[[], Any]]:
    data = text.encode("utf-8")

    def ours_and_sanitize() -> None:
        for entry in parse_feed(text, URL, fast=True):
            sanitize(entry.content, entry.url)

    return {
        "defaults": lambda: feedparser.parse(data, response_headers=HEADERS),
        "ours": lambda: parse_feed(text, URL, fast=True),
        "ours fast=False": lambda: parse_feed(text, URL, fast=False),
        "guard only": lambda: reject_entity_declarations(text, URL),
        "ours + sanitize": ours_and_sanitize,
    }


def measure(text: str, repeats: int) -> dict[str, float]:
    funcs = variants(text)
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for fn in funcs.values():      # warm-up: imports, regex compilation, caches
        fn()
    gc.collect()
    for _ in range(repeats):
        for name, fn in funcs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


def check(text: str) -> int:
    ours = parse_feed(text, URL, fast=True)
    theirs = feedparser.parse(text.encode(), response_headers=HEADERS).entries
    assert [e.title for e in ours] == [e.title for e in theirs], "ours and defaults disagree on titles"
    return len(ours)


def guard_works() -> bool:
    bomb = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<rss version="2.0"><channel><title>&b;</title></channel></rss>')
    try:
        parse_feed(bomb, URL)
    except ParseError:
        return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats-small", type=int, default=300)
    parser.add_argument("--repeats-large", type=int, default=12)
    args = parser.parse_args()
    _common.print_facts()
    print(f"# parse: feedparser {feedparser.__version__}; entity-declaring DOCTYPE refused by ours: {guard_works()}")
    ratios = []
    for label, items, target, repeats in (("6 KB", 5, 6_000, args.repeats_small),
                                          ("600 KB", 40, 600_000, args.repeats_large)):
        text = sized_feed(items, target)
        n = check(text)
        med = measure(text, repeats)
        print(f"{label}: {len(text.encode()):,} bytes, {n} entries, {repeats} calls each (median wall per call)")
        for name, value in med.items():
            rel = value / med["defaults"]
            print(f"  {name:16} {fmt(1000 * value, 3):>9} ms   {rel:5.2f} x defaults")
        ratios.append(f"{label} {med['ours'] / med['defaults']:.2f} ({fmt(1000 * med['ours'])} vs "
                      f"{fmt(1000 * med['defaults'])} ms)")
    print("RESULT parse ours/defaults (median time per parse): " + "; ".join(ratios))


if __name__ == "__main__":
    main()
