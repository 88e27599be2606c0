"""Website static export: the reprint page, the column index and RSS/JSON feeds, written
atomically (temp file + rename) into a directory the unit's web server already serves.

For government CMSs with no API: the site links or includes the column directory. Each page is
written durably and carries its own index entry; the manifest gathers those entries to rebuild the index
and feeds, and is itself rebuilt from the pages when a crash left it behind or it is unreadable.
``lookup`` tells whether a page was written before a crash.

Nothing of ours but pages, index and feeds is in the served directory: temporary files, the manifest and
the lock live in a work directory beside it (``work_directory``, default ``.<name>.syndicator`` next to
``directory``; same filesystem, so a rename stays atomic). Start-up sweeps temporary files of dead
processes from it, and leftovers of versions that wrote dot-files into the served directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import json
import logging
import os
import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from channels.base import Channel, PermanentError, Receipt
from channels.pages import remember_page
from channels.website.static_files import (
    ENTRY_META_NAME,
    HOST,
    LOCK,
    MANIFEST,
    TMP_SUFFIX,
    page_entry,
    sweep,
    work_dir,
)
from core.clock import SHANGHAI
from core.content import source_footer_html, source_line
from core.models import Item, UnitRef

_ENTRY_TITLE_CHARS = 1000           # the entry in a page's head stays small whatever the title
_SWEPT: set[str] = set()            # directories whose leftovers this process has swept
_MANIFEST_CAP = 2000
_DIR_LOCKS: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
_SCANNED: set[str] = set()          # directories whose pages this process has checked against the manifest
log = logging.getLogger(__name__)


class StaticOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: str                                     # relative paths: against the config file
    public_url: str = Field(pattern=r"^https?://")     # where `directory` is served, e.g. https://x.gov.cn/zzbz/
    column: str = "上级文件转载"
    index_size: int = Field(50, ge=1, le=1000)
    work_directory: str | None = None     # never served, same filesystem; default .<name>.syndicator beside it


def write_atomic(path: Path, data: bytes, *, durable: bool = True, tmp_dir: Path | None = None) -> None:
    """Readers see the old file or the new one, never a part. ``durable=False`` skips the fsync for files
    derived from others (index, feeds): after a power cut they may be one version behind, never torn.

    The temporary file is written in ``tmp_dir`` (the export's work directory, which the site does not serve)
    under a name unique to this write that starts with the writer's pid and host, so start-up can tell a dead
    writer's leftover (``sweep``). It is created readable by the web server (0644 less the umask; ``mkstemp``'s
    0600 is not).
    """
    where = tmp_dir or path.parent
    tmp = where / f"{os.getpid()}-{HOST}-{uuid.uuid4().hex[:12]}-{path.name}{TMP_SUFFIX}"
    fd = _open_creating(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except FileNotFoundError:       # the first write into this folder
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _open_creating(path: Path, flags: int) -> int:
    """Open, creating the file 0644 (less the umask) and, on the first write there, its directory (asking
    whether the directory exists before every write would cost a syscall each time)."""
    flags |= os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o644)


def _page(item: Item, unit: UnitRef, column: str, entry: dict[str, Any] | None = None) -> str:
    """The reprint page; a written page also carries its index entry (the manifest is rebuilt from those), first
    in its head and with the title capped, so the entry is found in the page's first bytes whatever its size."""
    published = item.published_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if item.published_at else ""
    meta = (f'<meta name="{ENTRY_META_NAME}" content="{escape(json.dumps(entry, ensure_ascii=False), quote=True)}">'
            if entry else "")
    return (
        f"<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">{meta}"
        f"<title>{escape(item.title)} - {escape(unit.name)}</title>"
        f'<link rel="canonical" href="{escape(item.url, quote=True)}"></head><body>'
        f'<nav>{escape(unit.name)} › {escape(column)}</nav><article>'
        f"<h1>{escape(item.title)}</h1>"
        f'<p class="meta">{escape(source_line(item))}　发布时间：{escape(published)}</p>'
        f'<div class="content">{item.content}</div>{source_footer_html(item)}'
        "</article></body></html>\n"
    )


def _index(entries: list[dict[str, Any]], unit_name: str, column: str) -> str:
    rows = "".join(
        f'<li><a href="{escape(e["path"], quote=True)}">{escape(e["title"])}</a>'
        f'<span class="date">{escape(e["date"])}</span></li>' for e in entries)
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(column)} - {escape(unit_name)}</title>"
        '<link rel="alternate" type="application/rss+xml" href="feed.xml"></head><body>'
        f"<h1>{escape(column)}</h1><ul class=\"list\">{rows}</ul></body></html>\n"
    )


def _rss(entries: list[dict[str, Any]], unit_name: str, column: str, base: str) -> bytes:
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = f"{unit_name} · {column}"
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

    @functools.cached_property
    def work(self) -> Path:
        configured = self.options.work_directory
        if not configured:
            return work_dir(self.root)
        path = Path(configured)
        return (path if path.is_absolute() else Path(self.ctx.extra.get("base_dir", ".")) / path).resolve()

    def render(self, item: Item, unit: UnitRef) -> str:
        return _page(item, unit, self.options.column)

    async def start(self) -> None:
        """Sweep what dead writers left (once per directory and process) before anything is written."""
        if str(self.root) in _SWEPT:      # a province has thousands of accounts: no thread hop per account
            return
        async with _DIR_LOCKS[str(self.root)]:
            try:
                await asyncio.to_thread(self._prepare)
            except OSError as exc:
                log.warning("static export %s: could not sweep leftovers: %s", self.root, exc)

    def _prepare(self) -> None:
        if str(self.root) in _SWEPT:
            return
        with _directory_lock(self.work):
            for path in sweep(self.root, self.work):
                log.warning("static export %s: cleared leftover %s (removed, or moved to the work directory)",
                            self.root, path)
        _SWEPT.add(str(self.root))

    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        root = self.root
        async with _DIR_LOCKS[str(root)]:
            try:
                await asyncio.to_thread(self._write_all, item, unit, key, root)
            except OSError as exc:
                if exc.errno == errno.EXDEV:
                    raise PermanentError(f"网站导出的工作目录 {self.work} 与导出目录 {root} 不在同一文件系统，"
                                         "无法原子替换；请把 work_directory 设在同一文件系统", str(exc)) from exc
                raise PermanentError(f"网站导出目录不可写：{root}", str(exc)) from exc
        await remember_page(self.ctx.kv, self.kind, unit.id, item, self.url_for(key))   # the Weibo post links it
        return Receipt(external_id=key, url=self.url_for(key))

    def _write_all(self, item: Item, unit: UnitRef, key: str, root: Path) -> None:
        self._prepare()
        with _directory_lock(self.work):
            self._write_locked(item, unit, key, root)

    def _write_locked(self, item: Item, unit: UnitRef, key: str, root: Path) -> None:
        now = self.ctx.clock.now()
        stamp = (item.published_at or now).astimezone(SHANGHAI)
        entry = {
            "key": key, "title": item.title[:_ENTRY_TITLE_CHARS], "path": f"articles/{key}.html",
            "url": self.url_for(key),
            "date": stamp.strftime("%Y-%m-%d"), "written_at": now.isoformat(),
            "source_url": item.url, "origin": item.origin, "unit": unit.name,
        }
        # The page is the record (durable, and it carries its own index entry); everything else derives from
        # the pages and is rebuilt on every write.
        write_atomic(root / "articles" / f"{key}.html", _page(item, unit, self.options.column, entry).encode("utf-8"),
                     tmp_dir=self.work)
        entries, _changed = _entries(root, self.work)
        self._save(root, [entry, *(e for e in entries if e["key"] != key)], unit.name)

    def _save(self, root: Path, entries: list[dict[str, Any]], unit_name: str) -> None:
        entries.sort(key=lambda e: (e["date"], e["written_at"]), reverse=True)
        del entries[_MANIFEST_CAP:]   # pages stay on disk; the manifest only feeds the index
        work = self.work
        write_atomic(work / MANIFEST, json.dumps(entries, ensure_ascii=False).encode("utf-8"), durable=False,
                     tmp_dir=work)
        latest = entries[: self.options.index_size]
        column = self.options.column
        write_atomic(root / "index.html", _index(latest, unit_name, column).encode("utf-8"), durable=False,
                     tmp_dir=work)
        write_atomic(root / "feed.xml", _rss(latest, unit_name, column, self.options.public_url), durable=False,
                     tmp_dir=work)
        feed = {
            "version": "https://jsonfeed.org/version/1.1", "title": f"{unit_name} · {column}",
            "home_page_url": self.options.public_url,
            "items": [{"id": e["key"], "url": e["url"], "title": e["title"], "date_published": e["written_at"],
                       "external_url": e["source_url"]} for e in latest],
        }
        write_atomic(root / "feed.json", json.dumps(feed, ensure_ascii=False, indent=1).encode("utf-8"),
                     durable=False, tmp_dir=work)

    async def verify(self, unit: UnitRef) -> str:
        """The export directory can be written by this process (nothing is written)."""
        root = self.root
        probe = next(p for p in (root, *root.parents) if p.exists())     # created on the first write
        if not await asyncio.to_thread(os.access, probe, os.W_OK | os.X_OK):
            raise PermanentError(f"网站导出目录不可写：{probe}", f"static export {root}: {probe} not writable")
        made = "" if probe == root else "（目录将在首次发布时创建）"
        return f"导出目录可写：{root}{made}，对外地址 {self.options.public_url}"

    async def lookup(self, key: str) -> Receipt | None:
        """Whether the page was written (a send interrupted by a crash); if so, its index entry is made sure of
        too: the crash may have come between the page and the manifest."""
        root = self.root
        async with _DIR_LOCKS[str(root)]:
            exists = await asyncio.to_thread(self._repair, root, key)
        return Receipt(external_id=key, url=self.url_for(key)) if exists else None

    def _repair(self, root: Path, key: str) -> bool:
        if not (root / "articles" / f"{key}.html").exists():
            return False
        self._prepare()
        with _directory_lock(self.work):
            return self._repair_locked(root, key)

    def _repair_locked(self, root: Path, key: str) -> bool:
        entries, changed = _entries(root, self.work)
        if not any(e["key"] == key for e in entries):
            # The page's writer died before the manifest (another hub took the delivery over): the once-per-process
            # rescan may have run before the page appeared, so this page is read back on its own.
            entry = _page_entry(root / "articles" / f"{key}.html", key)
            if entry is not None:
                log.warning("static export %s: page %s was missing from the manifest; added", root, key)
                entries.append(entry)
                changed = True
        if changed:
            mine = next((e for e in entries if e["key"] == key), None)
            self._save(root, entries, (mine or entries[0]).get("unit", ""))
        return True


@contextlib.contextmanager
def _directory_lock(work: Path) -> Iterator[None]:
    """Exclusive across processes (several hubs may export into one directory): the manifest is read, changed
    and written back, and two writers interleaving would drop each other's entry. ``_DIR_LOCKS`` keeps this
    process's own writers from tying up threads waiting here."""
    fd = _open_creating(work / LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)         # closing releases the lock


def _entries(root: Path, work: Path) -> tuple[list[dict[str, Any]], bool]:
    """The manifest's entries, completed from the pages where it is behind; and whether it was.

    The manifest is written without fsync: after a power cut it may be one version old, or a person may have
    broken it. Pages newer than it (or all pages, when it is missing or unreadable) are read back for the entry
    they carry. Once per directory and process is enough: within a process every page is followed by its
    manifest write, so only a previous life can have left one behind.
    """
    path = work / MANIFEST
    entries: list[dict[str, Any]] = []
    since = 0.0
    try:
        since = path.stat().st_mtime
        loaded = json.loads(path.read_bytes())
        if not isinstance(loaded, list) or not all(isinstance(e, dict) and "key" in e for e in loaded):
            raise ValueError("not a list of entries")
        entries = loaded
    except FileNotFoundError:
        pass
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("static export %s: %s unreadable (%s); rebuilding it from the pages", root, MANIFEST, exc)
        since = 0.0
    if str(root) in _SCANNED and since:
        return entries, False
    known = {e["key"] for e in entries}
    found = _entries_from_pages(root / "articles", since - 2 if since else 0.0, known)  # 2 s: mtime granularity
    _SCANNED.add(str(root))
    return entries + found, bool(found)


def _entries_from_pages(articles: Path, since: float, known: set[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    try:
        pages = list(os.scandir(articles))
    except FileNotFoundError:
        return found
    for page in pages:
        key = page.name.removesuffix(".html")
        if key == page.name or key in known or page.name.startswith(".") or page.stat().st_mtime < since:
            continue
        entry = _page_entry(Path(page.path), key)
        if entry is not None:
            found.append(entry)
    return found


def _page_entry(path: Path, key: str) -> dict[str, Any] | None:
    """The index entry a written page carries in its <head>, or None (logged) when it carries none."""
    try:
        entry = page_entry(str(path))
    except (OSError, ValueError):
        entry = None
    if isinstance(entry, dict) and entry.get("key") == key:
        return entry
    log.warning("static export: page %s carries no index entry; left out of the index", path)
    return None
