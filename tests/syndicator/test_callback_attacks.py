"""The WeChat callback attacked as an outsider would (issue: "Every inbound door checked"), with requests
built by wechatpy's own signer and crypto and timestamps from the test clock. Each attack is refused and
acts on nothing; the valid safe-mode admin command still acts; every refusal is counted in /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from channels.wechat.callback import make_wechat_callback
from core.clock import FakeClock
from syndicator.app import Hub
from syndicator.config import Settings
from syndicator.store import Store, open_store
from syndicator.web import start_web
from tests.conftest import pg_schema
from tests.fakes import MemoryKeyValue
from tests.wechat_support import AES_KEY, APPID, TOKEN, account, serve, wx_encrypted, wx_signed

ADMIN = "oAdminOpenId0000000000000001"


def command_xml(text: str, msg_id: str, created: float) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{ADMIN}]]></FromUserName>"
            f"<CreateTime>{int(created)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>")


@dataclass
class Rig:
    hub: Hub
    clock: FakeClock
    url: str
    base: str
    session: aiohttp.ClientSession

    def now(self) -> float:
        return self.clock.now().timestamp()

    async def post(self, params: dict[str, str], body: str) -> int:
        async with self.session.post(self.url, params=params, data=body) as resp:
            await resp.read()
            return resp.status

    async def paused(self) -> bool:
        return (await self.hub.store.account_states()).get("u0-hook", ("active", None))[0] == "paused"

    async def resume(self) -> None:
        await self.hub.store.set_account_state("u0-hook", "active", None, self.clock.now())

    def refused(self, reason: str) -> int:
        return self.hub.refusals[("wechat_callback", reason, "u0-wechat")]


def console_settings(tmp_path: Path) -> Settings:
    return Settings.model_validate({
        "base_dir": tmp_path,
        "hub": {"instance_id": "attack-hub", "data_dir": str(tmp_path / "var")},
        "storage": {"url": f"sqlite:///{tmp_path / 'hub.db'}"}, "web": {"port": 0},
        "console": {"admins": [ADMIN], "account": "u0-wechat", "push_alerts": False},
        "units": [{"id": "u0", "name": "鄂州市政府办公室", "accounts": [
            {"id": "u0-wechat", "kind": "wechat", "base_url": "http://127.0.0.1:9",
             "credentials": {"appid": APPID, "appsecret": "s3cret-app", "token": TOKEN, "encoding_aes_key": AES_KEY}},
            {"id": "u0-hook", "kind": "webhook", "credentials": {"secret": "hook-secret-1"},
             "options": {"url": "http://127.0.0.1:9/hook"}}]}],
    })


@pytest.fixture
async def rig(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Rig]:
    async with Hub(console_settings(tmp_path), clock=clock) as hub, aiohttp.ClientSession() as session:
        runner = await start_web(hub.web_app(), hub.settings.web)
        try:
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            yield Rig(hub, clock, f"{base}/wechat/callback/u0-wechat", base, session)
        finally:
            await runner.cleanup()


def pause_command(r: Rig, msg_id: str = "9001", when: float | None = None, **extra: str) -> tuple[dict[str, str], str]:
    when = r.now() if when is None else when
    return wx_encrypted(TOKEN, AES_KEY, APPID, command_xml("暂停 u0-hook 演练", msg_id, when), when, openid=ADMIN,
                        **extra)


async def test_valid_safe_mode_command_acts(rig: Rig) -> None:
    assert await rig.post(*pause_command(rig)) == 200
    assert await rig.paused()
    assert sum(rig.hub.refusals.values()) == 0


async def test_plain_mode_forgery_is_refused_for_a_safe_mode_account(rig: Rig) -> None:
    """A captured URL (signature over token/timestamp/nonce only) with a body the attacker wrote."""
    params = wx_signed(TOKEN, rig.now(), openid=ADMIN)
    assert await rig.post(params, command_xml("暂停 u0-hook 伪造", "9002", rig.now())) == 403
    assert not await rig.paused() and rig.refused("plaintext_refused") == 1


async def test_plain_mode_account_never_passes_text_to_the_console(clock: FakeClock) -> None:
    """Defence in depth: even where an account is in plain mode, its text never reaches anything that acts."""
    plain = account("http://unused")
    plain = plain.model_copy(update={"credentials": {k: v for k, v in plain.credentials.items()
                                                     if k != "encoding_aes_key"}})
    acted: list[str] = []
    refused: list[tuple[str, str]] = []

    async def on_text(account_id: str, openid: str, content: str) -> str:
        acted.append(content)
        return "已执行"

    async def on_hint(*_: Any) -> None:
        return None

    app = web.Application()
    app.router.add_route("*", "/cb/{account_id}", make_wechat_callback(
        {"wx-fgw": plain}, on_hint, on_text, MemoryKeyValue(clock), clock=clock,
        refused=lambda a, r: refused.append((a, r))))
    async with serve(app) as server, aiohttp.ClientSession() as session:
        now = clock.now().timestamp()
        async with session.post(server.make_url("/cb/wx-fgw"), params=wx_signed(TOKEN, now),
                                data=command_xml("跳过 63 伪造", "9003", now)) as resp:
            assert resp.status == 200 and await resp.text() == "success"
    assert acted == [] and refused == [("wx-fgw", "plain_mode_command")]


def test_check_config_refuses_a_console_account_without_aes_key(tmp_path: Path) -> None:
    data = console_settings(tmp_path).model_dump(mode="python")
    for a in data["units"][0]["accounts"]:
        a["credentials"] = {k: v.get_secret_value() for k, v in a["credentials"].items() if k != "encoding_aes_key"}
    data["base_dir"] = tmp_path
    with pytest.raises(ValueError, match="u0-wechat.*encoding_aes_key"):
        Settings.model_validate(data)


async def test_downgrade_by_dropping_encrypt_type_is_refused(rig: Rig) -> None:
    params, _envelope = pause_command(rig)
    downgraded = {k: v for k, v in params.items() if k not in ("encrypt_type", "msg_signature")}
    assert await rig.post(downgraded, command_xml("暂停 u0-hook 降级", "9004", rig.now())) == 403
    assert not await rig.paused() and rig.refused("plaintext_refused") == 1


async def test_hour_old_get_verification_url_is_refused(rig: Rig) -> None:
    hour_ago = rig.now() - 3600
    params = wx_signed(TOKEN, hour_ago, echostr="5830")
    async with rig.session.get(rig.url, params=params) as resp:
        assert resp.status == 403
    replay = {k: v for k, v in params.items() if k != "echostr"}
    assert await rig.post(replay, command_xml("暂停 u0-hook 旧链接", "9005", rig.now())) == 403
    assert await rig.post(*pause_command(rig, "9006", hour_ago)) == 403   # even properly encrypted
    assert not await rig.paused() and rig.refused("stale_timestamp") == 3


@pytest.mark.parametrize("offset", [-86400, 365 * 86400, -301, 301])
async def test_timestamps_outside_300_seconds_are_refused(rig: Rig, offset: int) -> None:
    assert await rig.post(*pause_command(rig, "9007", rig.now() + offset)) == 403
    assert not await rig.paused() and rig.refused("stale_timestamp") == 1


async def test_exact_replay_is_refused_inside_and_after_the_window(rig: Rig) -> None:
    request = pause_command(rig, "9008")
    assert await rig.post(*request) == 200 and await rig.paused()
    await rig.resume()
    assert await rig.post(*request) == 403                   # same nonce, inside the window
    rig.clock.advance(601)                                   # after the 600 s de-duplication window
    assert await rig.post(*request) == 403
    assert not await rig.paused()
    assert rig.refused("nonce_reused") == 1 and rig.refused("stale_timestamp") == 1


async def test_refusals_are_logged_without_secrets_and_counted_in_metrics(
        rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    params = wx_signed(TOKEN, rig.now() - 86400)
    assert await rig.post(params, command_xml("暂停 u0-hook x", "9009", rig.now())) == 403
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "stale_timestamp" in logged and params["signature"] not in logged and params["nonce"] not in logged
    async with rig.session.get(f"{rig.base}/metrics") as resp:
        text = await resp.text()
    # prometheus-client writes labels in name order and values as floats
    assert ('syndicator_requests_refused_total{account="u0-wechat",door="wechat_callback",'
            'reason="stale_timestamp"} 1.0') in text


async def test_simultaneous_copies_act_once_across_hubs(store: Store, clock: FakeClock) -> None:
    """Three copies of one message (WeChat's retries, new nonces) arriving at once at two hubs sharing the
    database: the MsgId claim is one atomic insert-if-absent, so the command runs once (SQLite and PostgreSQL)."""
    acted: list[str] = []

    async def on_text(account_id: str, openid: str, content: str) -> str:
        acted.append(content)
        await asyncio.sleep(0.01)
        return "好"

    async def on_hint(*_: Any) -> None:
        return None

    app = web.Application()
    for hub in ("a", "b"):
        app.router.add_route("*", f"/{hub}/{{account_id}}", make_wechat_callback(
            {"wx-fgw": account("http://unused")}, on_hint, on_text, store.kv, clock=clock))
    now = clock.now().timestamp()
    async with serve(app) as server, aiohttp.ClientSession() as session:
        async def send(hub: str) -> int:
            params, body = wx_encrypted(TOKEN, AES_KEY, APPID, command_xml("重试 5", "777", now), now)
            async with session.post(server.make_url(f"/{hub}/wx-fgw"), params=params, data=body) as resp:
                await resp.read()
                return resp.status

        statuses = await asyncio.gather(send("a"), send("b"), send("a"))
    assert statuses == [200, 200, 200] and acted == ["重试 5"]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_message_claim_is_won_once_by_hubs_on_separate_connections(backend: str, tmp_path: Path,
                                                                         clock: FakeClock) -> None:
    """Two hub processes = two stores (connections, pools) on one database, each claiming the same ids."""
    async with contextlib.AsyncExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'shared.db'}" if backend == "sqlite"
               else await stack.enter_async_context(pg_schema()))
        hubs = [await open_store(url, clock) for _ in range(2)]
        for s in hubs:
            stack.push_async_callback(s.close)
        for n in range(5):
            won = await asyncio.gather(*(s.kv.add(f"wechat:cb:wx:{n}", "-", 600) for s in hubs for _ in range(3)))
            assert sum(won) == 1, won


async def test_kv_add_is_atomic_under_concurrency_and_expires(store: Store, clock: FakeClock) -> None:
    results = await asyncio.gather(*(store.kv.add("wechat:cb:race", f"v{i}", 60) for i in range(8)))
    assert sum(results) == 1
    await store.kv.put("token:keep", "t")                    # no expiry: never purged
    clock.advance(61)
    assert await store.kv.purge("wechat:") == 1
    assert await store.kv.add("wechat:cb:race", "again", 60)   # expired entries may be claimed anew
    assert await store.kv.get("token:keep") == "t"
