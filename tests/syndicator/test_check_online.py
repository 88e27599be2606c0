"""`check-config --online` (issue 14): every account of the demo config checked against the sandbox look-alikes,
one line each, nothing published; a revoked Weibo token and a wrong JPush secret fail with their reasons."""

from __future__ import annotations

import asyncio
import sys

from sandbox import cms as cms_box
from sandbox import jpush as jpush_box
from sandbox import wechat as wechat_box
from sandbox import weibo as weibo_box
from sandbox.server import DEFAULT_PORTS, demo_options, start_sandbox
from syndicator.config import load_settings
from syndicator.online_check import check_online
from tests.e2e.test_demo_links import ROOT, demo_config


async def test_every_demo_account_is_checked_without_publishing(tmp_path, clock) -> None:
    box = await start_sandbox(ports=dict.fromkeys(DEFAULT_PORTS, 0), options=demo_options())
    try:
        path = demo_config(tmp_path, {s: box.url(s) for s in DEFAULT_PORTS})
        settings = load_settings(path)
        lines = await check_online(settings, clock)
        assert [line.account_id for line in lines] == [a.id for _u, a in settings.accounts()]
        by_id = {line.account_id: line for line in lines}
        assert by_id["ezfgw-weibo"].status == "OK" and "天后到期" in by_id["ezfgw-weibo"].message
        assert by_id["ezczj-weibo"].status == "FAIL" and "重新授权" in by_id["ezczj-weibo"].message
        assert by_id["ezfgw-wechat"].status == "OK" and "发文方式" in by_id["ezfgw-wechat"].message
        assert by_id["ezfgw-app"].status == "OK" and "未发送" in by_id["ezfgw-app"].message
        assert by_id["ezfgw-cms"].status == "OK" and by_id["ezfgw-site"].status == "OK"
        assert {line.status for line in lines} <= {"OK", "FAIL", "SKIP"}
        assert all(line.status != "SKIP" or "未核验" in line.message for line in lines)
        # nothing was published anywhere
        assert box.apps["weibo"][weibo_box.STATE].posts == []
        assert box.apps["jpush"][jpush_box.STATE].pushes == []
        assert box.apps["cms"][cms_box.STATE].articles == {} or not box.apps["cms"][cms_box.STATE].articles
        assert box.apps["wechat"][wechat_box.STATE].jobs == {} and box.apps["wechat"][wechat_box.STATE].drafts == {}

        # the command itself: one line per account, exit 1 because of the revoked token
        secrets = tmp_path / "demo.secrets.toml"
        secrets.write_text(secrets.read_text("utf-8").replace('JPUSH_MASTER_SECRET = "', 'JPUSH_MASTER_SECRET = "x'))
        proc = await asyncio.create_subprocess_exec(       # the look-alikes run on this loop: do not block it
            sys.executable, str(ROOT / "main.py"), "check-config", "--online", "--config", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
        out = stdout.decode().splitlines()
        assert proc.returncode == 1, stderr.decode()
        assert sum(1 for line in out if line.split(" ", 1)[0] in ("OK", "FAIL", "SKIP")) == len(lines)
        assert any(line.startswith("FAIL ezfgw-app (push)") and "AppKey" in line for line in out), out
        assert b"xsandbox-master-secret" not in stdout + stderr
    finally:
        await box.close()
