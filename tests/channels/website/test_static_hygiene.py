"""The static export leaves nothing of ours in the served directory: temporary files, manifest and lock live in
a work directory beside it, start-up sweeps what dead writers left (there and, from older versions, in the
served directory), and a campaign of SIGKILLs in the middle of writes leaves no temporary file anywhere served."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from channels.base import AccountConfig
from channels.website import static
from channels.website.static import StaticExportChannel
from core.models import UnitRef
from tests.fakes import make_context, make_item
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
UNIT = UnitRef("ezhou-fgw", "鄂州市发展和改革委员会")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def ours_in_served(root: Path) -> list[str]:
    """Dot-files and temporary files anywhere under the served directory."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.startswith(".") or p.name.endswith(".tmp"))


def channel_for(session: aiohttp.ClientSession, root: Path, **options: Any) -> StaticExportChannel:
    return StaticExportChannel(AccountConfig(id="site", kind="static", options={
        "directory": str(root), "public_url": "https://fgw.ezhou.gov.cn/zzbz/", **options}), make_context(session))


async def test_nothing_of_ours_but_pages_index_and_feeds_is_served(tmp_path: Path) -> None:
    root = tmp_path / "zzbz"
    async with aiohttp.ClientSession() as session:
        channel = channel_for(session, root)
        for n in (1, 2):
            await channel.publish(make_item(n), UNIT, f"k{n}")
    assert ours_in_served(root) == []
    assert sorted(p.name for p in root.iterdir()) == ["articles", "feed.json", "feed.xml", "index.html"]
    work = static.work_dir(root)
    assert work == tmp_path / ".zzbz.syndicator" and sorted(p.name for p in work.iterdir()) == ["lock", "manifest.json"]


async def test_a_configured_work_directory_is_used(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        await channel_for(session, tmp_path / "www" / "zzbz", work_directory=str(tmp_path / "state")).publish(
            make_item(1), UNIT, "k1")
    assert (tmp_path / "state" / "manifest.json").exists() and not (tmp_path / "www" / ".zzbz.syndicator").exists()


async def test_start_up_sweeps_dead_writers_leftovers_and_older_versions_dot_files(tmp_path: Path) -> None:
    root, dead = tmp_path / "zzbz", dead_pid()
    async with aiohttp.ClientSession() as session:
        await channel_for(session, root).publish(make_item(1), UNIT, "k1")
    work = static.work_dir(root)
    manifest = (work / "manifest.json").read_bytes()
    (work / "manifest.json").rename(root / ".manifest.json")                     # where older versions kept it
    (root / ".lock").write_text("")
    (root / f".index.html.{dead}.140001.tmp").write_text("partial")             # older versions' temp names
    (root / "articles" / f".k9.html.{dead}.140001.tmp").write_text("partial")
    (root / "articles" / f".k8.html.{os.getpid()}.140001.tmp").write_text("a live writer's")
    (work / f"{dead}-{static.HOST}-abc-k7.html.tmp").write_text("partial")      # a dead writer, this host
    (work / f"{os.getpid()}-{static.HOST}-abc-k6.html.tmp").write_text("mine")  # a live writer
    foreign = work / "4242-deadbeef-abc-index.html.tmp"                          # another host's, an hour old
    foreign.write_text("partial")
    old = time.time() - 3700
    os.utime(foreign, (old, old))
    static._SWEPT.clear()
    async with aiohttp.ClientSession() as session:
        await channel_for(session, root).start()
    assert ours_in_served(root) == [f"articles/.k8.html.{os.getpid()}.140001.tmp"]
    assert {p.name for p in work.iterdir()} == {"lock", "manifest.json", f"{os.getpid()}-{static.HOST}-abc-k6.html.tmp"}
    assert (work / "manifest.json").read_bytes() == manifest                     # moved, not lost


async def test_an_entry_is_read_back_whatever_the_page_size(tmp_path: Path) -> None:
    """A page with a 1,000,000-character title (not capped upstream) keeps its index entry through a rebuild."""
    root = tmp_path / "zzbz"
    async with aiohttp.ClientSession() as session:
        channel = channel_for(session, root)
        await channel.publish(make_item(1, title="长" * 1_000_000), UNIT, "k1")
        (static.work_dir(root) / "manifest.json").unlink()
        static._SCANNED.clear()
        await channel.publish(make_item(2), UNIT, "k2")
    index = (root / "index.html").read_text("utf-8")
    assert "articles/k1.html" in index and "articles/k2.html" in index
    assert len(index) < 10_000                                                  # the entry's title is capped


WRITER = """
import asyncio, sys
import aiohttp
from channels.base import AccountConfig
from channels.website.static import StaticExportChannel
from core.models import UnitRef
from tests.fakes import make_context, make_item

async def main(root, first):
    async with aiohttp.ClientSession() as session:
        channel = StaticExportChannel(AccountConfig(id="site", kind="static", options={
            "directory": root, "public_url": "https://x.gov.cn/"}), make_context(session))
        await channel.start()
        print("started", flush=True)
        body = "<p>" + "正文" * 400_000 + "</p>"     # 2.4 MB pages: a kill most likely lands in a write
        n = first
        while True:
            await channel.publish(make_item(n % 5 + 1, content=body), UnitRef("u", "单位"), f"k{n}")
            n += 1

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def start_writer(root: Path, first: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(root), str(first), cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        line = await proc.stdout.readline()
    assert line.strip() == b"started", line
    return proc


@pytest.mark.slow
async def test_sigkill_campaign_leaves_no_temporary_file_in_any_served_directory(tmp_path: Path) -> None:
    root = tmp_path / "zzbz"
    work = static.work_dir(root)
    leftovers_seen = 0
    proc = await start_writer(root, 0)
    for kill in range(12):
        await asyncio.sleep(0.15 + 0.05 * (kill % 4))              # somewhere in a write of the next pages
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert ours_in_served(root) == [], f"kill {kill}"
        dead = [p.name for p in work.glob("*.tmp")]
        leftovers_seen += bool(dead)
        proc = await start_writer(root, 1000 * (kill + 1))        # restart: start-up sweeps the dead writer's files
        others = [p.name for p in work.glob("*.tmp") if not p.name.startswith(f"{proc.pid}-")]
        assert others == [], f"after restart {kill}: {others}"
        if leftovers_seen >= 3 and kill >= 5:
            break
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert leftovers_seen, "no kill landed in a write: the campaign proved nothing"
    assert ours_in_served(root) == [] and (root / "index.html").exists()
