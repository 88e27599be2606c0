"""Dashboard login throttling behind a reverse proxy: the client address comes from X-Forwarded-For only
when the peer is a listed proxy, and failures count per user name, per address and per pair, so one
attacker cannot lock out anyone else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.clock import FakeClock
from syndicator.app import Hub
from syndicator.config import DashboardSettings
from syndicator.dashboard import setup_dashboard
from syndicator.dashboard.auth import LoginThrottle
from syndicator.passwords import hash_password
from tests.dashboard_support import PASSWORD, csrf_of, dashboard_settings


def jar_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))      # cookies for 127.0.0.1


async def _login(http: aiohttp.ClientSession, base: str, client: str, user: str, password: str) -> int:
    headers = {"X-Forwarded-For": client}
    async with http.get(f"{base}/login", headers=headers) as resp:
        token = csrf_of(await resp.text())
    async with http.post(f"{base}/login", data={"username": user, "password": password, "csrf": token},
                         headers=headers, allow_redirects=False) as resp:
        await resp.read()
        return resp.status


async def _served(tmp_path: Path, clock: FakeClock, serve: Any, trusted: list[str]) -> AsyncIterator[str]:
    settings = dashboard_settings(tmp_path)
    settings.web = settings.web.model_copy(update={"trusted_proxies": trusted})
    async with Hub(settings, clock=clock) as hub:
        app = hub.web_app()
        users = {"operator": hash_password(PASSWORD, iterations=1000),
                 "auditor": hash_password(PASSWORD + "!", iterations=1000)}
        setup_dashboard(app, DashboardSettings(users=users))
        yield await serve(app)


@pytest.fixture
async def behind_proxy(tmp_path: Path, clock: FakeClock, serve: Any) -> AsyncIterator[str]:
    async for base in _served(tmp_path, clock, serve, ["127.0.0.1"]):
        yield base


async def test_attacker_behind_the_proxy_does_not_lock_out_the_operator(behind_proxy: str) -> None:
    async with jar_session() as attacker, jar_session() as operator:
        for _ in range(5):
            assert await _login(attacker, behind_proxy, "198.51.100.66", "operator", "guess") == 401
        assert await _login(attacker, behind_proxy, "198.51.100.66", "operator", PASSWORD) == 429
        assert await _login(operator, behind_proxy, "203.0.113.10", "operator", PASSWORD) == 303
        async with operator.get(f"{behind_proxy}/metrics", headers={"X-Forwarded-For": "127.0.0.1"}) as resp:
            metrics = await resp.text()
    assert 'syndicator_requests_refused_total{door="dashboard_login",reason="bad_password"} 5' in metrics
    assert 'syndicator_requests_refused_total{door="dashboard_login",reason="throttled"} 1' in metrics


async def test_spraying_names_from_one_address_blocks_only_that_address(behind_proxy: str) -> None:
    async with jar_session() as attacker, jar_session() as auditor:
        for i in range(20):
            assert await _login(attacker, behind_proxy, "198.51.100.66", f"user{i % 4}", "guess") == 401
        assert await _login(attacker, behind_proxy, "198.51.100.66", "auditor", "x") == 429
        assert await _login(auditor, behind_proxy, "203.0.113.11", "auditor", PASSWORD + "!") == 303


async def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(tmp_path: Path, clock: FakeClock,
                                                                      serve: Any) -> None:
    """No proxy configured: a client rotating X-Forwarded-For values is still one address to the throttle."""
    async for base in _served(tmp_path, clock, serve, []):
        async with jar_session() as attacker:
            for i in range(5):
                assert await _login(attacker, base, f"192.0.2.{i}", "operator", "guess") == 401
            assert await _login(attacker, base, "192.0.2.99", "operator", PASSWORD) == 429


def test_throttle_counts_per_pair_address_and_user() -> None:
    now = [0.0]
    t = LoginThrottle(now=lambda: now[0])
    for _ in range(5):
        t.failed("10.0.0.1", "operator")
    assert t.wait_seconds("10.0.0.1", "operator") > 0            # this pair
    assert t.wait_seconds("10.0.0.1", "auditor") == 0            # same address, other name: 5 < 20
    assert t.wait_seconds("10.0.0.2", "operator") == 0           # other address, same name: 5 < 50
    for i in range(50):                                          # a distributed guess at one account
        t.failed(f"10.1.{i}.1", "auditor")
    assert t.wait_seconds("10.9.9.9", "auditor") > 0
    now[0] += 301                                                 # windows pass
    assert t.wait_seconds("10.0.0.1", "operator") == 0 and t.wait_seconds("10.9.9.9", "auditor") == 0
    for _ in range(3):
        t.failed("10.0.0.1", "operator")
    t.succeeded("10.0.0.1", "operator")
    assert t.pair.wait_seconds("operator\0" + "10.0.0.1") == 0
