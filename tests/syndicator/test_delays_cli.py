"""`main.py delays`, `report`, `reload` and `deadline` end to end (main.main in-process) against a
temporary config and store, across the 2026→2027 boundary before and after 2027.toml appears.
The commands' clock is a FakeClock (patched in for SystemClock)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

import main
from core.clock import FakeClock
from core.models import Item
from syndicator import cli_common
from syndicator.calendar import WorkCalendar
from syndicator.config import load_settings
from syndicator.delays import DelayMonitor
from syndicator.intake import Intake
from syndicator.store import open_store
from tests.e2e.test_calendar_reload import OVERRIDE_2027
from tests.syndicator.test_delays import sh

NOW = sh("2027-01-05 12:00")


async def _seed(config: Path) -> None:
    """B published Mon 2026-12-28, still unsent (overdue since 12-29 24:00); A published 2026-12-31,
    due 2027-01-04 24:00 by the provisional guess (01-01 is 元旦), one account sent 2027-01-05 10:00."""
    settings = load_settings(config)
    clock = FakeClock(sh("2026-12-28 10:05"))
    calendar = WorkCalendar(settings.path(settings.calendar_dir))
    store = await open_store(settings.storage_url(), clock)
    intake = Intake(settings, store, calendar, clock)
    monitor = DelayMonitor(store, settings.deadlines_for, calendar, clock,
                           settings.path(settings.hub.data_dir) / "delays.jsonl")
    try:
        for n, (published, detected) in enumerate([("2026-12-28 10:00", "2026-12-28 10:05"),
                                                   ("2026-12-31 09:00", "2026-12-31 09:30")]):
            clock.set(sh(detected))
            item = Item(source_id="gov", guid=f"g{n}", url=f"https://www.gov.cn/zhengce/{n}.htm",
                        title=f"国务院关于第{n}项工作的通知", detected_at=clock.now(), published_at=sh(published),
                        canonical_url=f"https://www.gov.cn/zhengce/{n}.htm", content_hash=f"h{n}")
            planned, deadline, kind = intake.plan(settings.sources[0], item)
            await store.ingest(item, deadline.anchor, kind, planned, clock.now())
        clock.set(sh("2026-12-31 10:00"))
        assert len(await monitor.scan()) == 2                    # B overdue on both accounts
        clock.set(sh("2027-01-05 10:00"))
        [b_site] = await store.claim_due(clock.now(), "t", {"u1-site": 1}, 1)   # earliest deadline first: B
        await store.mark_retry(b_site.id, clock.now(), "渠道故障：网站维护", clock.now() + timedelta(hours=6))  # type: ignore[arg-type]
        [a_site] = await store.claim_due(clock.now(), "t", {"u1-site": 1}, 1)
        await store.mark_delivered(a_site.id, clock.now(), "x", None)  # type: ignore[arg-type]
        assert {r.kind.value for r in await monitor.scan()} == {"delivered_late", "overdue"}
    finally:
        monitor.close()
        await store.close()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "syndicator.toml"
    path.write_text(f"""
calendar_dir = "calendar"
[hub]
data_dir = "var"
[storage]
url = "sqlite:///{tmp_path / 'hub.db'}"
[[sources]]
id = "gov"
name = "国务院"
kind = "rss"
url = "https://www.gov.cn/rss.xml"
[[units]]
id = "u1"
name = "市发改委"
  [[units.accounts]]
  id = "u1-site"
  kind = "static"
  options = {{ directory = "site", public_url = "https://u1.example.gov.cn/" }}
  [[units.accounts]]
  id = "u1-export"
  kind = "static"
  options = {{ directory = "export", public_url = "https://u1.example.gov.cn/x/" }}
""", encoding="utf-8")
    (tmp_path / "calendar").mkdir()
    asyncio.run(_seed(path))
    monkeypatch.setattr(cli_common, "SystemClock", lambda: FakeClock(NOW))   # the clock of the store the commands open
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_delays_until_a_date_includes_that_day_and_open_overdue_is_live(config: Path, capsys) -> None:
    code, out, _ = run(capsys, "delays", "--config", str(config), "--until", "2027-01-01", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["kind"] for r in rows] == ["overdue", "overdue"]
    b_site = next(r for r in rows if r["account_id"] == "u1-site")
    assert b_site["recorded_late_clock_hours"] == 34                   # 12-29 24:00 → 12-31 10:00
    assert b_site["late_clock_hours"] == 156                           # … → now, 01-05 12:00
    assert b_site["late_as_of"] == "2027-01-05T12:00:00+08:00" and b_site["state"] == "retrying"

    code, out, _ = run(capsys, "delays", "--config", str(config), "--until", "2027-01-05", "--format", "json")
    assert code == 0 and len(json.loads(out)) == 4                     # records of 01-05 10:00 included
    code, out, _ = run(capsys, "delays", "--config", str(config), "--since", "2027-01-05")
    assert code == 0 and "超时发布" in out and "仍未发布（超时计至 2027-01-05 12:00）" in out
    assert "市发改委" in out and "政府网站（静态发布）" in out and "截止时间（北京时间）" in out


def test_report_and_reload(config: Path, capsys) -> None:
    code, out, _ = run(capsys, "report", "--config", str(config), "--month", "2027-01")
    assert code == 0
    assert "统计时间：2027-01-05 12:00（北京时间）" in out
    assert "| 市发改委 | 政府网站（静态发布） | 2 | 0 | 1 | 1 | 0 | 0 |" in out   # late (vs the guess), missing
    code, out, _ = run(capsys, "report", "--config", str(config), "--month", "2026-12", "--format", "csv")
    assert code == 0 and "市发改委,政府网站（静态发布）,2,0,0,2,0,0" in out

    (config.parent / "calendar" / "2027.toml").write_text(OVERRIDE_2027, encoding="utf-8")
    code, out, _ = run(capsys, "reload", "--config", str(config))
    assert code == 0
    assert "重算 2 条投递的截止时间" in out and "2 条延误记录因截止时间变化作废" in out
    log = [json.loads(line) for line in (config.parent / "var" / "delays.jsonl").read_text("utf-8").splitlines()]
    assert [e["type"] for e in log].count("superseded") == 2

    code, out, _ = run(capsys, "report", "--config", str(config), "--month", "2027-01")
    assert "| 市发改委 | 政府网站（静态发布） | 2 | 1 | 0 | 0 | 0 | 1 |" in out       # on time, not yet due
    code, out, _ = run(capsys, "delays", "--config", str(config), "--format", "json")
    assert {r["item_title"] for r in json.loads(out)} == {"国务院关于第0项工作的通知"}   # A's records are gone
    code, out, _ = run(capsys, "reload", "--config", str(config))
    assert code == 0 and "重算 0 条" in out


def test_deadline_beyond_9999_is_an_error_not_a_traceback(config: Path, capsys) -> None:
    code, out, err = run(capsys, "deadline", "9999-12-31 10:00", "--config", str(config))
    assert code == 2 and out == ""
    assert err.startswith("error: 时间 9999-12-31T10:00:00+08:00 超出可计算范围") and "Traceback" not in err
