"""JSON list APIs (gov.cn 政策解读 ``ZCJD_QZ.json``, the policy library search) read into entries.

Paths are dotted with optional list indexes: ``searchVO.listVO``, ``data.list[0].items``,
``data.0.items``. Search APIs wrap matched words in ``<em>``; titles are stripped of tags.
A firewall or error page arrives as HTML with status 200 often enough that the message must say
what was received, so the watcher's log shows "got an HTML page" rather than a JSON traceback.

Several lists of one response are read in order (``list_paths``): the policy library answers
``t=zhengcelibrary`` with ``searchVO.listVO = null`` and the results under
``searchVO.catMap.{gongwen,bumenfile,otherfile,gongbao}.listVO`` (see docs/upstream.md). A list path
that is missing or ``null`` is therefore a ParseError naming the path and what is there instead —
reading ``null`` as "no items" is how a wrong path sat healthy with zero items. ``[]`` is an empty
list (the watcher's "empty" health state watches for that); a non-empty list from which no item
yields an entry means a wrong field path, and is a ParseError naming the field.

A missing or ``null`` date falls back to ``date_fallback`` paths (``pubtimeStr`` null → ``ptime``
in ms); when none gives a value the entry carries a ``date_problem``, never a silent blank.
"""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from feeds.dates import parse_or_flag
from feeds.html_list import absolute_http
from feeds.model import Entry, ParseError
from feeds.specs import JsonListSpec

log = logging.getLogger(__name__)

_TAG = re.compile(r"<[^<>]*>")
_WS = re.compile(r"\s+")
_JSONP = re.compile(r"^\s*[A-Za-z_$][\w$.]*\s*\((?P<body>.*)\)\s*;?\s*$", re.DOTALL)
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_MISSING = object()


def parse_json_list(body: str | bytes, base_url: str, spec: JsonListSpec) -> list[Entry]:
    """Entries in API order. ParseError when the body is not JSON or the list path is absent."""
    data = load_json(body, base_url)
    entries: list[Entry] = []
    seen: set[str] = set()
    for path in spec.paths():
        items = _list_at(data, path, base_url)
        found = 0
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                log.debug("%s: item %d is %s, skipped", base_url, index, type(item).__name__)
                continue
            entry = _entry(item, base_url, spec)
            if entry is None:
                continue
            found += 1
            if entry.url not in seen:
                seen.add(entry.url)
                entries.append(entry)
        if items and not found:
            raise ParseError(_why_no_entries(items, base_url, spec, path))
    return entries


def _list_at(data: Any, path: str, base_url: str) -> list[Any]:
    """The list at ``path``; a missing or null path is an error that says what is there instead."""
    items = _resolve(data, path)
    if items is _MISSING:
        parent = path.rpartition(".")[0]
        where = _resolve(data, parent) if parent else _MISSING
        inner = f"; {parent!r} has {_shape(where)}" if where is not _MISSING else ""
        raise ParseError(f"{base_url}: list path {path!r} not found; top level has {_shape(data)}{inner}")
    if items is None:
        raise ParseError(f"{base_url}: list path {path!r} is null, not a list — the API answered without "
                         f"results there (a wrong path, or the results moved); top level has {_shape(data)}")
    if not isinstance(items, list):
        raise ParseError(f"{base_url}: list path {path!r} holds {type(items).__name__}, not a list")
    return items


def _why_no_entries(items: list[Any], base_url: str, spec: JsonListSpec, path: str) -> str:
    """Which configured field failed, counted over the items, for the operator fixing the spec."""
    objects = [i for i in items if isinstance(i, dict)]
    where = f"{base_url}: none of the {len(items)} items at list path {path!r} gave an entry"
    if not objects:
        return f"{where}: they are {type(items[0]).__name__}s, not objects"
    urls = [get_path(i, spec.url) for i in objects]
    no_url = sum(1 for u in urls if u is None)
    bad_url = sum(1 for u in urls if u is not None and (not isinstance(u, str) or absolute_http(u, base_url) is None))
    no_title = sum(1 for i in objects if not clean_title(get_path(i, spec.title)))
    parts = [f"url field {spec.url!r} missing in {no_url}" if no_url else "",
             f"url field {spec.url!r} not an http(s) link in {bad_url}" if bad_url else "",
             f"title field {spec.title!r} missing or empty in {no_title}" if no_title else ""]
    keys = ", ".join(map(repr, list(objects[0])[:10]))
    return f"{where} ({'; '.join(p for p in parts if p)}); the first item has keys {keys}"


def load_json(body: str | bytes, url: str) -> Any:
    """Decode and parse; JSONP is unwrapped. Errors name the URL and the first characters."""
    text = _decode(body)
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise ParseError(f"{url}: expected JSON, got an empty body")
    if stripped.startswith("<"):
        kind = "an HTML page" if re.match(r"<(!doctype\s+html|html|head|body|meta|script|div|title)\b",
                                          stripped, re.IGNORECASE) else "markup"
        raise ParseError(f"{url}: expected JSON, got {kind}: {_clip(stripped)!r}")
    if jsonp := _JSONP.match(stripped):
        stripped = jsonp["body"]
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"{url}: not valid JSON ({_clip(str(exc), 120)}); received {_clip(stripped)!r}") from exc


def _decode(body: str | bytes) -> str:
    if isinstance(body, str):
        return body
    for encoding in ("utf-8-sig", "gb18030"):   # RFC 8259 says UTF-8; some CMSs send GBK anyway
        try:
            return body.decode(encoding)
        except UnicodeDecodeError:
            continue
    return body.decode("utf-8", "replace")


def get_path(data: Any, path: str) -> Any:
    """Value at a dotted path, or None when any step is missing."""
    value = _resolve(data, path)
    return None if value is _MISSING else value


def _resolve(data: Any, path: str) -> Any:
    node = data
    for key, index in _PATH_PART.findall(path or ""):
        step: str | int = int(index) if index else key
        if isinstance(node, list) and isinstance(step, str) and step.isdigit():
            step = int(step)
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return _MISSING
    return node


def _entry(item: dict[str, Any], base_url: str, spec: JsonListSpec) -> Entry | None:
    raw_url = get_path(item, spec.url)
    url = absolute_http(raw_url, base_url) if isinstance(raw_url, str) else None
    title = clean_title(get_path(item, spec.title))
    if url is None or not title:
        log.debug("%s: item without usable url/title skipped (url=%r)", base_url, raw_url)
        return None
    entry = Entry(url=url, title=title)
    if spec.guid:
        guid = get_path(item, spec.guid)
        entry.guid = _scalar(guid)
    if spec.summary and isinstance(summary := get_path(item, spec.summary), str):
        entry.summary = clean_title(summary)
    if spec.date:
        _date_with_fallback(entry, item, spec)
    for name, path in spec.extra.items():
        value = get_path(item, path)
        if value is not None:
            entry.extra[name] = clean_title(value) if isinstance(value, str) else _scalar(value)
    return entry


def clean_title(value: Any) -> str:
    """``国务院关于<em>数字</em>政府&amp;…`` -> ``国务院关于数字政府&…``."""
    if not isinstance(value, str):
        return _scalar(value)
    return _WS.sub(" ", html.unescape(_TAG.sub("", value))).strip()


def _date_with_fallback(entry: Entry, item: dict[str, Any], spec: JsonListSpec) -> None:
    """The first of ``date`` and ``date_fallback`` that holds a value; none at all is a date problem."""
    assert spec.date is not None
    tried = []
    for field in (spec.date, *spec.date_fallback):
        value = get_path(item, field)
        if value is not None and value != "":
            _set_date(entry, value, field)
            return
        tried.append(field)
    entry.date_problem = f"no date: field(s) {', '.join(map(repr, tried))} missing or null"


def _set_date(entry: Entry, value: Any, field: str) -> None:
    """Strings go through feeds.dates; numbers (and all-digit strings of 10 or 13 digits) are
    epoch seconds or milliseconds. Text that holds no readable date is a date problem."""
    if value is None or value == "":
        return
    entry.published_raw = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        entry.date_problem = f"date field {field!r} holds {type(value).__name__} {_clip(entry.published_raw)!r}"
        return
    if isinstance(value, str) and re.fullmatch(r"\d{10}|\d{13}", value.strip(), re.ASCII):
        value = int(value.strip())
    if isinstance(value, str):
        entry.published_at, entry.date_problem = parse_or_flag(value)
        if value.strip() and entry.published_at is None and entry.date_problem is None:
            entry.date_problem = f"date field {field!r} holds {_clip(value)!r}, which is not a date we can read"
        return
    if value != value or value in (float("inf"), float("-inf")):
        entry.date_problem = f"date field {field!r} holds {value!r}, not a time"
        return
    seconds = value / 1000 if abs(value) >= 1e11 else value
    try:
        stamp = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        stamp = None
    if stamp is None or not 1990 <= stamp.year <= 2199:
        entry.date_problem = f"date number {value!r} is not a plausible epoch time"
        return
    entry.published_at = stamp


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    try:
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)[:500]
        return str(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        return "keys " + ", ".join(map(repr, list(data)[:10]))
    return f"a {type(data).__name__}"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
