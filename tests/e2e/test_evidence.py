"""The inspector's exports from the command line, on a demo unit (鄂州市发展和改革委员会 of config/demo.toml)
reprinting through the sandbox's Weibo and CMS and the static export: on time, late (its Weibo account
paused meanwhile) and skipped deliveries. The monthly report (CSV, Markdown, printable HTML) and the delay
CSV carry every proof column; ``evidence`` writes a CSV with a BOM and each delivery's receipts as JSON."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import main
from core.clock import FakeClock
from sandbox import cms as cms_box
from sandbox import weibo as weibo_box
from sandbox.common import Faults
from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from syndicator import cli_common
from syndicator.app import Hub
from syndicator.config import load_settings
from syndicator.evidence import BOM, DETAIL_COLUMNS
from syndicator.operations import Operations
from syndicator.report import PROOF_COLUMNS
from tests.hub_support import drain
from tests.paths import ROOT_DIR
from tests.syndicator.test_delays import sh

ROOT = ROOT_DIR
TOKEN = "2.00sandbox-weibo-ezfgw"
TITLES = ("国务院办公厅关于进一步优化政务服务提升行政效能的意见", "国务院关于加强数字政府建设的指导意见")


def demo_unit() -> tuple[str, str]:
    unit = load_settings(ROOT / "config" / "demo.toml").units[0]
    return unit.id, unit.name


def config_text(tmp: Path, upstream: str, weibo: str, cms: str) -> str:
    uid, name = demo_unit()
    return f"""
[hub]
data_dir = "var"
instance_id = "evidence-test"
secrets_file = "secrets.toml"
[storage]
url = "sqlite:///{tmp / 'hub.db'}"
[[sources]]
id = "gwy"
name = "国务院信息"
kind = "rss"
url = "{upstream}/rss/gwy.xml"
origin = "中国政府网"
[[units]]
id = "{uid}"
name = "{name}"
  [[units.accounts]]
  id = "{uid}-site"
  kind = "static"
  options = {{ directory = "site", public_url = "https://www.example.gov.cn/{uid}/zzbz/" }}
  [[units.accounts]]
  id = "{uid}-cms"
  kind = "cms"
  base_url = "{cms}"
  credentials = {{ secret = "${{CMS_SECRET}}" }}
  options = {{ column = "zzbz" }}
  [[units.accounts]]
  id = "{uid}-weibo"
  kind = "weibo"
  base_url = "{weibo}"
  credentials = {{ access_token = "${{WEIBO_TOKEN}}" }}
    [units.accounts.options]
    safe_domain = "example.gov.cn"
    rip = "203.0.113.10"
"""


async def _seed(tmp: Path) -> Path:
    """Wednesday 10:00 two items appear; the Weibo account is paused, item 2's CMS copy is skipped, the rest
    goes out at once; Friday 10:00 Weibo is resumed and both Weibo posts go out late."""
    uid, _name = demo_unit()
    state = UpstreamState()
    for title in TITLES:
        state.publish(title, f"<p>{title}。各省、自治区、直辖市人民政府，国务院各部委、各直属机构：……</p>",
                      published_at=sh("2026-11-25 10:00"))
    runners = []
    urls = []
    for app in (build_upstream(state), weibo_box.build_app(Faults(), tokens={TOKEN: "example.gov.cn"}),
                cms_box.build_app(Faults(), secret=DEMO_SECRETS["cms_secret"])):
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
    config = tmp / "syndicator.toml"
    config.write_text(config_text(tmp, *urls), encoding="utf-8")
    (tmp / "secrets.toml").write_text(f'CMS_SECRET = "{DEMO_SECRETS["cms_secret"]}"\nWEIBO_TOKEN = "{TOKEN}"\n',
                                      encoding="utf-8")
    clock = FakeClock(sh("2026-11-25 10:00"))
    try:
        async with Hub(load_settings(config), clock=clock) as hub:
            ops = Operations(hub.settings, hub.store, clock, hub.dispatcher)
            assert await hub.watcher.poll(hub.settings.sources[0]) == 2
            assert (await ops.pause(f"{uid}-weibo", "账号年审", "测试")).ok
            cms = {d.item_id: d.id for d in await hub.store.deliveries(account_id=f"{uid}-cms")}
            assert (await ops.skip(cms[max(cms)], "与本单位职能无关", "测试")).ok
            await drain(hub)
            await hub.monitor.scan()
            clock.set(sh("2026-11-27 10:00"))
            await hub.monitor.scan()
            assert (await ops.resume(f"{uid}-weibo", "测试")).ok
            await drain(hub)
            await hub.monitor.scan()
            assert await hub.store.state_counts() == {"delivered": 5, "skipped": 1}
    finally:
        for runner in runners:
            await runner.cleanup()
    return config


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = asyncio.run(_seed(tmp_path))
    monkeypatch.setattr(cli_common, "SystemClock", lambda: FakeClock(sh("2026-12-01 09:00")))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main.main(list(args)) == 0
    return capsys.readouterr().out


def section(text: str, title: str) -> list[dict[str, str]]:
    """The CSV table following a one-cell title row."""
    rows = list(csv.reader(io.StringIO(text)))
    start = rows.index([title]) + 1
    header, out = rows[start], []
    for row in rows[start + 1:]:
        if len(row) != len(header):
            break
        out.append(dict(zip(header, row, strict=True)))
    return out


def check_proof_columns(rows: list[dict[str, str]]) -> None:
    states = {r["状态"] for r in rows}
    assert {"已发布", "已跳过"} <= states
    for r in rows:
        for column in ("单位", "渠道", "账号", "稿件", "上游链接", "上游发布时间", "本系统发现时间", "截止时间",
                       "截止时间为临时计算", "状态", "时间起算口径"):
            assert r[column], (column, r)
        assert r["上游链接"].startswith("http://127.0.0.1:") and r["上游发布时间"] == "2026-11-25 10:00"
        assert r["截止时间"] == "2026-11-26 24:00" and r["时间起算口径"] == "正常跟踪"
        if r["状态"] == "已发布":
            assert r["发布时间（本系统确认）"] and r["公开链接"].startswith("https://"), r
        if r["状态"] == "已跳过":
            assert "经人工决定不转载：与本单位职能无关" in r["原因"]
    late = [r for r in rows if r["渠道"] == "政务微博"]
    assert len(late) == 2 and all(float(r["超时（工作小时）"]) > 0 and "人工暂停：账号年审" in r["原因"] for r in late)
    assert all(r["平台发布时间"] for r in late), "Weibo reports its own publish time (created_at)"


def test_report_and_delay_csv_carry_every_proof_column(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = run(capsys, "report", "--config", str(config), "--month", "2026-11", "--format", "csv")
    rows = section(text, "逐条明细")
    assert len(rows) == 6 and tuple(rows[0]) == DETAIL_COLUMNS
    check_proof_columns(rows)
    assert "基线/未纳入考核 = 稿件发布于本系统开始跟踪该来源之前" in text       # definitions explain the cases

    md = run(capsys, "report", "--config", str(config), "--month", "2026-11")
    assert "## 逐条明细" in md and md.count("| 正常跟踪 |") == 6
    html = run(capsys, "report", "--config", str(config), "--month", "2026-11", "--format", "html")
    assert "@media print" in html and "<th>公开链接</th>" in html and '<a href="https://' in html
    assert "<script" not in html

    delays = run(capsys, "delays", "--config", str(config), "--since", "2026-11-01", "--format", "csv")
    records = list(csv.DictReader(io.StringIO(delays)))
    assert set(PROOF_COLUMNS) <= set(records[0])
    late = [r for r in records if r["类型"] == "超时发布"]
    skipped = [r for r in records if r["类型"] == "人工跳过"]
    assert len(late) == 2 and len(skipped) == 1
    for r in late:
        assert r["公开链接"].startswith("https://") and r["平台发布时间"] and r["发布时间（本系统确认）"]
        assert r["上游链接"] and r["上游发布时间"] == "2026-11-25 10:00" and r["时间起算口径"] == "正常跟踪"
    assert skipped[0]["公开链接"] == "" and skipped[0]["上游链接"]


def test_evidence_for_a_demo_unit(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uid, name = demo_unit()
    out = tmp_path / "evidence"
    printed = run(capsys, "evidence", "--config", str(config), "--unit", uid, "--month", "2026-11", "--out", str(out))
    assert "6 deliveries" in printed
    raw = (out / "evidence.csv").read_bytes()
    assert raw.startswith(BOM.encode("utf-8"))                        # a spreadsheet reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 6 and all(r["单位"] == name for r in rows)
    check_proof_columns(rows)
    delivered = [r for r in rows if r["状态"] == "已发布"]
    assert len(delivered) == 5 and all(r["公开链接"] for r in delivered)
    for r in delivered:
        proof: dict[str, Any] = json.loads((out / "receipts" / f"{r['投递编号']}.json").read_text("utf-8"))
        assert proof["public_url"] == r["公开链接"] and proof["attempts"]
        delivered_receipts = [x for x in proof["receipts"] if x["outcome"] == "delivered"]
        assert delivered_receipts and delivered_receipts[-1]["url"] == r["公开链接"]
    weibo = [r for r in delivered if r["渠道"] == "政务微博"]
    proof = json.loads((out / "receipts" / f"{weibo[0]['投递编号']}.json").read_text("utf-8"))
    body = proof["receipts"][-1]["body"]
    assert body["idstr"] and body["created_at"] and proof["platform_published_at"]


def test_evidence_rejects_an_unknown_unit(config: Path, tmp_path: Path, capsys) -> None:
    code = main.main(["evidence", "--config", str(config), "--unit", "nobody", "--month", "2026-11",
                      "--out", str(tmp_path / "x")])
    assert code == 2 and "unknown unit" in capsys.readouterr().err
