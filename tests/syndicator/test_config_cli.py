"""Configuration validation and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from syndicator.config import ConfigError, load_settings
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
EXAMPLE_ENV = {name: f"value-of-{name}" for name in (
    "EZFGW_CMS_SECRET", "EZFGW_WEIBO_APP_SECRET", "EZFGW_WX_APPID", "EZFGW_WX_SECRET",
    "EZFGW_WX_TOKEN",
    "EZ_APP_KEY", "EZ_APP_MASTER_SECRET", "EZFGW_HOOK_SECRET",
    "EZSJ_INFORMANT_WECOM_KEY", "EZSJ_LEADER_DINGTALK_TOKEN", "EZSJ_LEADER_DINGTALK_SECRET")}


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=60)


def write(tmp: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_configs_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)
    example = load_settings(ROOT / "config" / "example.toml")
    assert {a.kind for _u, a in example.accounts()} == {"static", "cms", "weibo", "wechat", "push", "webhook",
                                                          "manual"}
    assert any(s.id.startswith("gov-") for s in example.sources)        # presets pulled in by source_files
    demo = load_settings(ROOT / "config" / "demo.toml")
    assert len(demo.units) >= 3 and demo.units[0].accounts[0].credentials == {}


def test_secret_values_never_appear_in_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_A", "super-secret-token-value")
    path = write(tmp_path, """
[[units]]
id = "u1"
name = "单位"
  [[units.accounts]]
  id = "u1-weibo"
  kind = "weibo"
  credentials = { access_token = "${TOKEN_A}" }
  options = { safe_domain = "example.gov.cn" }
""")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert "units[0](id=u1).accounts[0](id=u1-weibo).options.rip" in text
    assert "super-secret-token-value" not in text


def test_inline_secret_and_unknown_reference_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[units]]
id = "u1"
name = "单位"
  [[units.accounts]]
  id = "u1-hook"
  kind = "webhook"
  credentials = { secret = "plain-text-secret" }
  options = { url = "https://x.example/h" }
  [[units.accounts]]
  id = "u1-hook2"
  kind = "webhook"
  credentials = { secret = "${NOT_SET_ANYWHERE_123}" }
  options = { url = "https://x.example/h" }
""")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert f"{path}: units[0](id=u1).accounts[0](id=u1-hook).credentials.secret: write secrets as references" in text
    assert "${NOT_SET_ANYWHERE_123} is set neither" in text
    assert "plain-text-secret" not in text


def test_secrets_file_is_used(tmp_path: Path) -> None:
    write(tmp_path, 'HOOK = "from-file"\n', "secrets.toml")
    path = write(tmp_path, """
[hub]
secrets_file = "secrets.toml"
[[units]]
id = "u1"
name = "单位"
  [[units.accounts]]
  id = "u1-hook"
  kind = "webhook"
  credentials = { secret = "${HOOK}" }
  options = { url = "https://x.example/h" }
""")
    settings = load_settings(path)
    assert settings.units[0].accounts[0].secret("secret") == "from-file"
    assert "from-file" not in repr(settings)


@pytest.mark.parametrize(("body", "expected"), [
    ("[[sources]]\nid='s'\nname='n'\nkind='rss'\nurl='ftp://x'\n", "sources[0](id=s).url"),
    ("[[sources]]\nid='s'\nname='n'\nkind='html'\nurl='https://x'\n", "needs an [html] table"),
    ("[[sources]]\nid='s'\nname='n'\nkind='rss'\nurl='https://x'\nunits=['ghost']\n", "unknown unit(s) ghost"),
    ("[[sources]]\nid='s'\nname='n'\nkind='rss'\nurl='https://x'\n[[sources.rules]]\nmatch='regex'\nvalues=['(']\n",
     "bad regex"),
    ("[hub]\nworkers = 0\n", "hub.workers"),
    ("[[sources]]\nid='s'\nname='n'\nkind='html'\nurl='https://x'\nhtml={item='li[[bad'}\n", "html.item"),
    ("[storage]\nurl = 'mysql://x'\n", "storage.url"),
    ("[[units]]\nid='u'\nname='n'\n[[units.accounts]]\nid='a'\nkind='fax'\n", "unknown channel kind 'fax'"),
    ("this is = = not toml", "not valid TOML"),
    ("[[sources]]\nid='s'\nname='n'\nkind='rss'\nurl='https://x'\nencoding='zlib'\n", "sources[0](id=s).encoding"),
])
def test_errors_name_the_file_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_check_config_exit_codes(tmp_path: Path) -> None:
    ok = cli("check-config", "--config", str(ROOT / "config" / "example.toml"), env=EXAMPLE_ENV)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = cli("check-config", "--config", str(write(tmp_path, "[hub]\nworkers = -1\n")))
    assert bad.returncode == 2 and "hub.workers" in bad.stderr
    missing = cli("check-config", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr


def test_deadline_command_prints_one_json_object(tmp_path: Path) -> None:
    config = write(tmp_path, "")
    out = cli("deadline", "2025-09-30 10:00", "--config", str(config))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["deadline"] == "2025-10-10T00:00:00+08:00"      # after the National Day holiday
    assert data["provisional"] is False and data["rule"] == "next_working_day_end"
    assert data["working_days"] == ["2025-10-09"]
    bad = cli("deadline", "yesterday-ish", "--config", str(config))
    assert bad.returncode == 2 and "无法解析时间" in bad.stderr


def test_operator_commands_on_an_empty_store(tmp_path: Path) -> None:
    config = write(tmp_path, f"""
[storage]
url = "sqlite:///{tmp_path / 'hub.db'}"
[[units]]
id = "u1"
name = "单位"
  [[units.accounts]]
  id = "u1-site"
  kind = "static"
  options = {{ directory = "site", public_url = "https://x.example/" }}
""")
    status = cli("status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["open"] == 0
    assert cli("retry", "42", "--config", str(config)).returncode == 1
    paused = cli("pause", "u1-site", "维护", "--config", str(config))
    assert paused.returncode == 0 and "已暂停" in paused.stdout
    assert cli("resume", "u1-site", "--config", str(config)).returncode == 0
    unknown = cli("pause", "nobody", "--config", str(config))
    assert unknown.returncode == 1 and "没有启用的渠道账号 nobody" in unknown.stderr
    assert cli("skip", "42", " ", "--config", str(config)).returncode == 1


def test_sources_probe_prints_items_and_stores_nothing(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text("", encoding="utf-8")
    config = write(tmp_path, f"""
[storage]
url = "sqlite:///{tmp_path / 'hub.db'}"
[[sources]]
id = "down"
name = "不可达"
kind = "rss"
url = "http://127.0.0.1:9/feed.xml"
""")
    out = cli("sources", "probe", "down", "--config", str(config))
    assert out.returncode == 1 and "error: source down" in out.stderr and "127.0.0.1:9" in out.stderr
    assert not (tmp_path / "hub.db").exists()
    none = cli("sources", "probe", "ghost", "--config", str(config))
    assert none.returncode == 2 and "no source with id 'ghost'" in none.stderr


async def test_sources_probe_against_the_sandbox(tmp_path: Path, serve) -> None:
    import asyncio

    from sandbox.upstream import UpstreamState
    from sandbox.upstream import build_app as build_upstream

    state = UpstreamState()
    state.publish("国务院关于探测来源的通知", feeds={"province"})
    base = await serve(build_upstream(state))
    config = write(tmp_path, f"""
[storage]
url = "sqlite:///{tmp_path / 'hub.db'}"
[[sources]]
id = "province"
name = "省政府文件"
kind = "rss"
url = "{base}/rss/province.xml"
article = {{ body = ["div.TRS_UEDITOR"] }}
""")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "sources", "probe", "province", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    (line,) = out.decode().splitlines()
    item = json.loads(line)
    assert item["title"] == "国务院关于探测来源的通知" and item["required"] and item["content_chars"] > 20
    assert item["published_at"] and not (tmp_path / "hub.db").exists()


def test_the_retired_anchor_age_rule_loads_but_check_config_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "[deadlines]\nmax_anchor_age_hours = 72\n[[sources]]\nid = \"gwy\"\nname = \"国务院\"\n"
                           "kind = \"rss\"\nurl = \"https://www.gov.cn/rss.xml\"\n"
                           "tracking_starts_at = 2026-12-01T00:00:00\n")
    settings = load_settings(path)
    assert settings.sources[0].tracking_starts_at is not None
    assert settings.sources[0].tracking_starts_at.isoformat() == "2026-12-01T00:00:00+08:00"   # naive: Beijing
    done = cli("check-config", "--config", str(path))
    assert done.returncode == 0 and "max_anchor_age_hours is no longer used" in done.stdout
