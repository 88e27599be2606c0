"""`sources snapshot` records what upstream answered; `replay_snapshot` reads it back through the
whole reader. Here the directory is recorded from the sandbox look-alikes with the shipped presets."""

from __future__ import annotations

import asyncio
import json
import sys
import tomllib

import pytest

from core.content import to_text
from core.fetch import FetchError
from feeds.reader import SourceReader
from feeds.snapshot import MANIFEST, ReplayFetcher, replay_snapshot
from sandbox.govsite import add_govsite_routes
from sandbox.upstream import UpstreamState, build_app
from syndicator.config import SourceSettings
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
HTTP_PRESETS = ("gov-gwyxx", "gov-zuixin", "gov-jiedu", "gov-zhengceku")


def presets_at(base: str) -> list[SourceSettings]:
    text = (ROOT / "config" / "sources" / "gov_cn.toml").read_text("utf-8")
    text = text.replace("https://www.gov.cn", base).replace("https://sousuo.www.gov.cn", base)
    return [SourceSettings.model_validate(raw) for raw in tomllib.loads(text)["sources"]]


async def test_snapshot_then_replay_gives_what_the_live_read_gave(serve, tmp_path) -> None:
    state = UpstreamState()
    docs = [state.publish(f"国务院关于快照回放测试的通知（第{i}号）", feeds={"gwy", "jiedu"}) for i in range(3)]
    app = build_app(state)
    add_govsite_routes(app)
    base = await serve(app)
    sources = presets_at(base)
    (tmp_path / "gov.toml").write_text((ROOT / "config" / "sources" / "gov_cn.toml").read_text("utf-8").replace(
        "https://www.gov.cn", base).replace("https://sousuo.www.gov.cn", base), "utf-8")
    config = tmp_path / "c.toml"
    config.write_text(f'source_files = ["{tmp_path / "gov.toml"}"]\n[storage]\nurl = "sqlite:///{tmp_path / "h.db"}"\n',
                      "utf-8")
    out = tmp_path / "snap"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "sources", "snapshot", *HTTP_PRESETS, "--out", str(out),
        "--limit", "2", "--config", str(config), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()

    manifest = json.loads((out / MANIFEST).read_text("utf-8"))
    assert set(manifest["sources"]) == set(HTTP_PRESETS)
    assert all(manifest["sources"][s]["entries"] >= 3 for s in HTTP_PRESETS), manifest["sources"]
    roles = {(r["source"], r["role"]) for r in manifest["responses"]}
    assert {(s, "list") for s in HTTP_PRESETS} | {(s, "article") for s in HTTP_PRESETS} <= roles
    first = manifest["responses"][0]
    assert first["status"] == 200 and first["headers"]["Content-Type"].startswith("text/html")
    assert (out / first["file"]).read_bytes().startswith(b"<!DOCTYPE html>")         # raw bytes, as sent

    for doc in docs:                                   # upstream changes after recording: replay must not care
        state.edit(doc.id, doc.title + "（已修改）")
    replayed = await replay_snapshot(out, sources)
    assert set(replayed) == set(HTTP_PRESETS)
    for source_id, got in replayed.items():
        titles = [e.title for e in got.entries]
        assert titles[:3] == [d.title.removesuffix("（已修改）") for d in sorted(docs, key=lambda d: -d.id)], source_id
        bodies = [e for e in got.entries if e.content]
        assert len(bodies) == 2 and all(e.body_problem is None for e in bodies), source_id
        assert all("已经国务院同意" in to_text(e.content) and "无障碍" not in to_text(e.content) for e in bodies)
        assert all(e.published_at is not None for e in got.entries), source_id

    # An unrecorded URL is an error, never an empty answer.
    replay = ReplayFetcher(out)
    wrong = sources[0].model_copy(update={"url": base + "/not/recorded/"})
    with pytest.raises(FetchError, match="not in the snapshot"):
        await SourceReader(replay, lambda: replay).read(wrong)
