"""Record what upstream really answers, and replay it through the whole reader.

Our fixtures were written from the same assumptions as our presets, so tests could not notice when
both were wrong. `python main.py sources snapshot [ID…] --out DIR` runs on a machine that can reach
the sites and saves each response as it arrived: the body bytes as a file, and in ``manifest.json``
the URL asked for, the URL that answered, the status and the response headers the fetcher exposes
(Content-Type, ETag, Last-Modified, Cache-Control max-age, Retry-After), the charset used, which
source and which role (list page or article). ``replay_snapshot`` serves such a directory to a
``SourceReader`` in place of the network, so a recorded page goes through the same fetch-result,
decoding, list parsing, article extraction and plausibility checks as a live one.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.fetch import FetchError, FetchResult, decode_body
from feeds.model import Entry
from feeds.reader import PageFetcher, ReadResult, SourceReader
from feeds.specs import SourceSpec

MANIFEST = "manifest.json"
_UNSAFE = re.compile(r"[^\w.-]+", re.ASCII)


def _headers(result: FetchResult) -> dict[str, str]:
    out = {"Content-Type": result.content_type, "ETag": result.etag, "Last-Modified": result.last_modified,
           "Cache-Control": f"max-age={result.max_age:g}" if result.max_age is not None else None,
           "Retry-After": f"{result.retry_after:g}" if result.retry_after is not None else None}
    return {k: v for k, v in out.items() if v}


@dataclass
class RecordingFetcher:
    """Passes fetches to ``inner`` and writes every answer (or failure) into ``directory``."""

    inner: PageFetcher
    directory: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    source_id: str = ""
    role: str = "list"

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    encoding: str | None = None, max_bytes: int | None = None,
                    headers: dict[str, str] | None = None) -> FetchResult:
        record: dict[str, Any] = {"source": self.source_id, "role": self.role, "url": url}
        self.records.append(record)
        try:
            result = await self.inner.fetch(url, etag=etag, last_modified=last_modified, encoding=encoding,
                                            max_bytes=max_bytes, headers=headers)
        except FetchError as exc:
            record.update(status=exc.status, error=str(exc))
            raise
        name = f"{len(self.records):03d}_{_UNSAFE.sub('_', self.source_id)}_{self.role}.body"
        await asyncio.to_thread((self.directory / name).write_bytes, result.body)
        record.update(final_url=result.url, status=result.status, headers=_headers(result),
                      encoding=result.encoding, file=name, bytes=len(result.body))
        return result


class ReplayFetcher:
    """Answers from a snapshot directory: the recorded response for each URL asked for."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        manifest = json.loads((directory / MANIFEST).read_text("utf-8"))
        self.responses: dict[str, dict[str, Any]] = {}
        for record in manifest["responses"]:
            self.responses.setdefault(record["url"], record)

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    encoding: str | None = None, max_bytes: int | None = None,
                    headers: dict[str, str] | None = None) -> FetchResult:
        record = self.responses.get(url)
        if record is None:
            raise FetchError(f"{url}: not in the snapshot {self.directory}", url=url)
        if "file" not in record:
            raise FetchError(record.get("error") or f"{url}: recorded as failed", url=url, status=record.get("status"))
        body = await asyncio.to_thread((self.directory / record["file"]).read_bytes)
        head = record.get("headers", {})
        text, charset = decode_body(body, head.get("Content-Type", ""), encoding)
        return FetchResult(url=record.get("final_url") or url, status=record["status"], body=body, text=text,
                           encoding=charset, etag=head.get("ETag"), last_modified=head.get("Last-Modified"),
                           content_type=head.get("Content-Type", ""))


async def record_sources(http: PageFetcher, browser_factory: Callable[[], PageFetcher] | None,
                         sources: list[SourceSpec], out: Path, articles: int) -> dict[str, Any]:
    """Fetch each source once (its list pages, then up to ``articles`` article pages) through recording
    fetchers, and write the bodies and ``manifest.json`` into ``out``. Returns the manifest."""
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    manifest: dict[str, Any] = {"format": 1, "sources": {}, "responses": records}
    recorders = [RecordingFetcher(http, out, records)]

    def browser() -> PageFetcher:
        if browser_factory is None:
            raise FetchError("fetch mode 'browser' is not available in this process", url="")
        recorders.append(RecordingFetcher(browser_factory(), out, records))
        return recorders[-1]

    reader = SourceReader(recorders[0], browser)
    try:
        for source in sources:
            summary: dict[str, Any] = {"url": source.url, "kind": source.kind, "fetch": source.fetch}
            _mark(recorders, source.id, "list")
            try:
                result = await reader.read(source)
                summary.update(entries=len(result.entries), pages=result.pages, warnings=result.warnings)
                _mark(recorders, source.id, "article")
                for entry in result.entries[:articles]:
                    try:
                        await reader.complete(source, entry)
                    except Exception as exc:  # recorded in the manifest; the snapshot goes on
                        summary.setdefault("article_errors", []).append(str(exc))
            except Exception as exc:  # a source that cannot be read is recorded as such
                summary["error"] = str(exc) or type(exc).__name__
            manifest["sources"][source.id] = summary
    finally:
        await reader.close()
    await asyncio.to_thread((out / MANIFEST).write_text, json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
    return manifest


def _mark(recorders: list[RecordingFetcher], source_id: str, role: str) -> None:
    for recorder in recorders:
        recorder.source_id, recorder.role = source_id, role


@dataclass(slots=True)
class Replayed:
    result: ReadResult
    entries: list[Entry]                       # completed from their recorded article pages where recorded


async def replay_snapshot(directory: Path, sources: list[SourceSpec]) -> dict[str, Replayed]:
    """Read every source of the snapshot that is in ``sources`` through a SourceReader fed from the
    directory; entries whose article page was recorded are completed from it."""
    replay = await asyncio.to_thread(ReplayFetcher, directory)
    manifest = json.loads(await asyncio.to_thread((directory / MANIFEST).read_text, "utf-8"))
    reader = SourceReader(replay, lambda: replay)
    out: dict[str, Replayed] = {}
    for source in sources:
        if source.id not in manifest["sources"]:
            continue
        result = await reader.read(source)
        entries = [await reader.complete(source, e) if e.url in replay.responses else e for e in result.entries]
        out[source.id] = Replayed(result, entries)
    return out
