"""Static export: the page, the index and feeds a unit's web server serves, written atomically."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import feedparser
import pytest

from channels.base import AccountConfig, PermanentError
from channels.website import static
from channels.website.static import StaticExportChannel
from core.models import Item, UnitRef
from tests.fakes import make_context, make_item

UNIT = UnitRef("ezhou-fgw", "鄂州市发展和改革委员会")


def dated(n: int, **fields: Any) -> Item:
    """Item ``n``, titled by its number and published on 2026-11-(20+n): the index lists the newest first."""
    return make_item(n, **{"title": f"国务院办公厅关于第{n}项工作的通知",
                           "published_at": datetime(2026, 11, 20 + n, 2, 0, tzinfo=UTC),
                           "detected_at": datetime(2026, 11, 20 + n, 2, 5, tzinfo=UTC), **fields})


@pytest.fixture
async def channel(tmp_path: Path) -> Any:
    async with aiohttp.ClientSession() as session:
        yield StaticExportChannel(AccountConfig(id="site", kind="static", options={
            "directory": str(tmp_path / "zzbz"), "public_url": "https://fgw.ezhou.gov.cn/zzbz/", "index_size": 2}),
            make_context(session))


async def test_page_index_and_feeds_are_written_and_readable_by_the_web_server(channel: Any, tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        receipt = await channel.publish(dated(1), UNIT, "k1")
    finally:
        os.umask(old_umask)
    root = tmp_path / "zzbz"
    page = root / "articles" / "k1.html"
    assert receipt.url == "https://fgw.ezhou.gov.cn/zzbz/articles/k1.html" and receipt.external_id == "k1"
    html = page.read_text("utf-8")
    assert "国务院办公厅关于第1项工作的通知" in html and "转载自 中国政府网" in html
    for name in ("articles/k1.html", "index.html", "feed.xml", "feed.json"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o644, name      # not mkstemp's 0600
    assert not [p for p in root.rglob("*.tmp")]                                 # no temporary file left
    feed = feedparser.parse((root / "feed.xml").read_bytes())
    assert not feed.bozo and feed.entries[0].link == receipt.url and feed.entries[0].id == "k1"
    assert json.loads((root / "feed.json").read_text("utf-8"))["items"][0]["url"] == receipt.url


async def test_newest_first_capped_index_and_a_resend_replaces_its_entry(channel: Any, tmp_path: Path) -> None:
    for n in (1, 2, 3):
        await channel.publish(dated(n), UNIT, f"k{n}")
    await channel.publish(dated(2, title="国务院办公厅关于第2项工作的通知（更新）"), UNIT, "k2")
    root = tmp_path / "zzbz"
    manifest = json.loads((static.work_dir(root) / "manifest.json").read_text("utf-8"))
    assert [e["key"] for e in manifest] == ["k3", "k2", "k1"] and "更新" in manifest[1]["title"]
    index = (root / "index.html").read_text("utf-8")
    assert "第3项" in index and "更新" in index and "第1项" not in index           # index_size = 2
    assert await channel.lookup("k1") is not None and await channel.lookup("nope") is None


async def test_an_unwritable_directory_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    async with aiohttp.ClientSession() as session:
        ch = StaticExportChannel(AccountConfig(id="site", kind="static", options={
            "directory": str(blocker / "zzbz"), "public_url": "https://x.gov.cn/"}), make_context(session))
        with pytest.raises(PermanentError) as info:
            await ch.publish(dated(1), UNIT, "k1")
    assert str(blocker / "zzbz") in info.value.reason


def _lose_last_manifest_write(root: Path, before: bytes) -> None:
    """The older manifest is back (with its older time), and the hub restarted: no directory checked yet."""
    from channels.website import static

    manifest = static.work_dir(root) / "manifest.json"
    manifest.write_bytes(before)
    old = (root / "articles" / "k2.html").stat().st_mtime - 30
    os.utime(manifest, (old, old))
    static._SCANNED.clear()


async def test_only_the_page_is_fsynced(channel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    await channel.publish(dated(1), UNIT, "k1")
    assert len(synced) == 1          # the page; manifest, index and feeds are rebuilt from the pages


async def test_a_manifest_left_behind_by_a_crash_is_completed_from_the_pages(channel: Any, tmp_path: Path) -> None:
    root = tmp_path / "zzbz"
    await channel.publish(dated(1), UNIT, "k1")
    before = (static.work_dir(root) / "manifest.json").read_bytes()
    await channel.publish(dated(2), UNIT, "k2")
    _lose_last_manifest_write(root, before)              # power cut: page k2 on disk, its manifest write lost
    await channel.publish(dated(3), UNIT, "k3")
    manifest = json.loads((static.work_dir(root) / "manifest.json").read_text("utf-8"))
    assert [e["key"] for e in manifest] == ["k3", "k2", "k1"]
    assert "第2项" in (root / "index.html").read_text("utf-8")


async def test_lookup_after_a_crash_puts_the_page_in_the_index(channel: Any, tmp_path: Path) -> None:
    root = tmp_path / "zzbz"
    await channel.publish(dated(1), UNIT, "k1")
    before = (static.work_dir(root) / "manifest.json").read_bytes()
    await channel.publish(dated(2), UNIT, "k2")
    _lose_last_manifest_write(root, before)
    assert (await channel.lookup("k2")).url.endswith("/articles/k2.html")      # reconciliation after restart
    assert "第2项" in (root / "index.html").read_text("utf-8")
    assert "鄂州市发展和改革委员会" in (root / "index.html").read_text("utf-8")    # unit name from the entry


async def test_an_unreadable_manifest_is_rebuilt_from_the_pages(channel: Any, tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "zzbz"
    for n in (1, 2):
        await channel.publish(dated(n), UNIT, f"k{n}")
    (static.work_dir(root) / "manifest.json").write_text("{not json", "utf-8")
    (root / "articles" / "by-hand.html").write_text("<html>a page a person put here</html>", "utf-8")
    await channel.publish(dated(3), UNIT, "k3")
    manifest = json.loads((static.work_dir(root) / "manifest.json").read_text("utf-8"))
    assert [e["key"] for e in manifest] == ["k3", "k2", "k1"]
    assert "unreadable" in caplog.text and "by-hand.html" in caplog.text


async def test_writers_in_several_processes_never_drop_each_others_entries(channel: Any, tmp_path: Path) -> None:
    import concurrent.futures

    # Threads calling the writer directly stand in for hub processes: each opens the lock file itself, as
    # another process would, and nothing in-process (the asyncio lock) serialises them.
    root = channel.root
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: channel._write_all(dated(n % 9 + 1, guid=f"g{n}"), UNIT, f"k{n}", root),
                      range(40)))
    manifest = json.loads((static.work_dir(root) / "manifest.json").read_text("utf-8"))
    assert sorted(e["key"] for e in manifest) == sorted(f"k{n}" for n in range(40))
