"""Website static export: the reprint page, the column index and RSS/JSON feeds, written
atomically (temp file + rename) into a directory the unit's web server already serves.

For government CMSs with no API: the site links or includes the column directory. The
manifest (``.manifest.json``) is the export's own record, so the index survives restarts and
``lookup`` can tell whether a page was written before a crash.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from channels.base import Channel, PermanentError, Receipt
from channels.content import source_footer_html, source_line
from syndicator.clock import SHANGHAI
from syndicator.models import Item, UnitRef

_MANIFEST_CAP = 2000
_DIR_LOCKS: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)


class StaticOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: str                                     # relative paths: against the config file
    public_url: str = Field(pattern=r"^https?://")     # where `directory` is served, e.g. https://x.gov.cn/zzbz/
    column: str = "上级文件转载"
    index_size: int = Field(50, ge=1, le=1000)


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Readers see the old file or the new one, never a part. ``durable=False`` skips the fsync for files
    derived from others (index, feeds): after a power cut they may be one version behind, never torn."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except FileNotFoundError:      # first write into this directory (asking every time costs a syscall)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _page(item: Item, unit: UnitRef, column: str) -> str:
    published = item.published_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if item.published_at else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(item.title)} - {escape(unit.name)}</title>"
        f'<link rel="canonical" href="{escape(item.url, quote=True)}"></head><body>'
        f'<nav>{escape(unit.name)} › {escape(column)}</nav><article>'
        f"<h1>{escape(item.title)}</h1>"
        f'<p class="meta">{escape(source_line(item))}　发布时间：{escape(published)}</p>'
        f'<div class="content">{item.content}</div>{source_footer_html(item)}'
        "</article></body></html>\n"
    )


def _index(entries: list[dict[str, Any]], unit: UnitRef, column: str) -> str:
    rows = "".join(
        f'<li><a href="{escape(e["path"], quote=True)}">{escape(e["title"])}</a>'
        f'<span class="date">{escape(e["date"])}</span></li>' for e in entries)
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(column)} - {escape(unit.name)}</title>"
        '<link rel="alternate" type="application/rss+xml" href="feed.xml"></head><body>'
        f"<h1>{escape(column)}</h1><ul class=\"list\">{rows}</ul></body></html>\n"
    )


def _rss(entries: list[dict[str, Any]], unit: UnitRef, column: str, base: str) -> bytes:
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = f"{unit.name} · {column}"
    ET.SubElement(channel, "link").text = base
    ET.SubElement(channel, "description").text = column
    for e in entries:
        node = ET.SubElement(channel, "item")
        ET.SubElement(node, "title").text = e["title"]
        ET.SubElement(node, "link").text = e["url"]
        ET.SubElement(node, "guid", isPermaLink="false").text = e["key"]
        ET.SubElement(node, "pubDate").text = format_datetime(datetime.fromisoformat(e["written_at"]))
        ET.SubElement(node, "source", url=e["source_url"]).text = e["origin"]
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(rss, encoding="utf-8")


class StaticExportChannel(Channel):
    kind = "static"
    Options = StaticOptions

    @functools.cached_property
    def root(self) -> Path:
        path = Path(self.options.directory)
        path = path if path.is_absolute() else Path(self.ctx.extra.get("base_dir", ".")) / path
        return path.resolve()      # once: one lock per real directory, and no lstat walk per publish

    def url_for(self, key: str) -> str:
        return self.options.public_url.rstrip("/") + f"/articles/{key}.html"

    def render(self, item: Item, unit: UnitRef) -> str:
        return _page(item, unit, self.options.column)

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        root = self.root
        async with _DIR_LOCKS[str(root)]:
            try:
                await asyncio.to_thread(self._write_all, item, unit, key, root)
            except OSError as exc:
                raise PermanentError(f"网站导出目录不可写：{root}", str(exc)) from exc
        return Receipt(external_id=key, url=self.url_for(key))

    def _write_all(self, item: Item, unit: UnitRef, key: str, root: Path) -> None:
        write_atomic(root / "articles" / f"{key}.html", self.render(item, unit).encode("utf-8"))
        manifest_path = root / ".manifest.json"
        entries: list[dict[str, Any]] = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else []
        entries = [e for e in entries if e["key"] != key]
        stamp = (item.published_at or self.ctx.clock.now()).astimezone(SHANGHAI)
        entries.insert(0, {
            "key": key, "title": item.title, "path": f"articles/{key}.html", "url": self.url_for(key),
            "date": stamp.strftime("%Y-%m-%d"), "written_at": self.ctx.clock.now().isoformat(),
            "source_url": item.url, "origin": item.origin,
        })
        entries.sort(key=lambda e: (e["date"], e["written_at"]), reverse=True)
        del entries[_MANIFEST_CAP:]   # pages stay on disk; the manifest only feeds the index
        write_atomic(manifest_path, json.dumps(entries, ensure_ascii=False).encode("utf-8"))
        latest = entries[: self.options.index_size]
        # The page and the manifest are the record; the index and feeds are rebuilt from them on every write.
        write_atomic(root / "index.html", _index(latest, unit, self.options.column).encode("utf-8"), durable=False)
        write_atomic(root / "feed.xml", _rss(latest, unit, self.options.column, self.options.public_url),
                     durable=False)
        feed = {
            "version": "https://jsonfeed.org/version/1.1", "title": f"{unit.name} · {self.options.column}",
            "home_page_url": self.options.public_url,
            "items": [{"id": e["key"], "url": e["url"], "title": e["title"], "date_published": e["written_at"],
                       "external_url": e["source_url"]} for e in latest],
        }
        write_atomic(root / "feed.json", json.dumps(feed, ensure_ascii=False, indent=1).encode("utf-8"),
                     durable=False)

    async def lookup(self, key: str) -> Receipt | None:
        page = self.root / "articles" / f"{key}.html"
        exists = await asyncio.to_thread(page.exists)
        return Receipt(external_id=key, url=self.url_for(key)) if exists else None
