"""The JSON API and /metrics: bearer API keys (hashed in the config), loopback-only without keys, bad
parameters answered 400 with a JSON error, the OpenAPI document; and whose X-Forwarded-For is believed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from core.clock import FakeClock
from syndicator.app import Hub
from syndicator.web import start_web
from syndicator.web_auth import ClientAddress, hash_api_key
from tests.hub_support import hub_settings
from tests.paths import ROOT_DIR

ROOT = ROOT_DIR
KEY = "k-" + "7Q" * 20
PATHS = ("/api/status", "/api/deliveries", "/metrics", "/api/openapi.json")


async def _hub_base(tmp_path: Path, clock: FakeClock, **web: object) -> AsyncIterator[str]:
    settings = hub_settings(tmp_path, sources=[], units=[])
    settings.web = settings.web.model_copy(update=web)
    async with Hub(settings, clock=clock) as hub:
        runner = await start_web(hub.web_app(), hub.settings.web)
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


@pytest.fixture
async def keyed(tmp_path: Path, clock: FakeClock) -> AsyncIterator[str]:
    async for base in _hub_base(tmp_path, clock, api_keys=[hash_api_key(KEY)]):
        yield base


@pytest.fixture
async def keyless(tmp_path: Path, clock: FakeClock) -> AsyncIterator[str]:
    async for base in _hub_base(tmp_path, clock, trusted_proxies=["127.0.0.1"]):
        yield base


async def test_keys_configured_requests_without_a_valid_key_are_refused(keyed: str, session: aiohttp.ClientSession,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    for path in PATHS:
        for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {KEY}"}):
            async with session.get(keyed + path, headers=headers) as resp:
                assert resp.status == 401, (path, headers)
                assert "error" in await resp.json() and resp.headers["WWW-Authenticate"].startswith("Bearer")
        async with session.get(keyed + path, headers={"Authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 200, path
    async with session.get(keyed + "/healthz") as resp:
        assert resp.status == 200                       # liveness stays open (says nothing)
    assert KEY not in caplog.text and "wrong-key" not in caplog.text
    async with session.get(keyed + "/metrics", headers={"Authorization": f"Bearer {KEY}"}) as resp:
        metrics = await resp.text()
    assert 'syndicator_requests_refused_total{door="api",reason="missing_key"} 4' in metrics
    assert 'syndicator_requests_refused_total{door="api",reason="bad_key"} 8' in metrics


async def test_without_keys_only_loopback_clients_are_answered(keyless: str, session: aiohttp.ClientSession) -> None:
    async with session.get(keyless + "/api/status") as resp:
        assert resp.status == 200                       # a client on this machine
    # through the (trusted) reverse proxy on this machine, for a client elsewhere
    async with session.get(keyless + "/api/status", headers={"X-Forwarded-For": "198.51.100.7"}) as resp:
        assert resp.status == 403 and "api_keys" in (await resp.json())["error"]
    async with session.get(keyless + "/metrics", headers={"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}) as resp:
        assert resp.status == 403


async def test_untrusted_proxy_on_loopback_is_not_a_loopback_client(tmp_path: Path, clock: FakeClock,
                                                                   session: aiohttp.ClientSession) -> None:
    """A proxy nobody listed forwards from 127.0.0.1: the client could be anyone, so no keyless answer."""
    async for base in _hub_base(tmp_path, clock):
        async with session.get(base + "/api/status", headers={"X-Forwarded-For": "127.0.0.1"}) as resp:
            assert resp.status == 403
        async with session.get(base + "/api/status", headers={"Forwarded": "for=203.0.113.9"}) as resp:
            assert resp.status == 403


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "limit=5001", "limit=abc", "limit=1e3", "limit=",
                                   "state=nonsense", "state=delivered,bogus", "colour=red"])
async def test_bad_parameters_get_400_with_a_json_error(keyless: str, session: aiohttp.ClientSession,
                                                        caplog: pytest.LogCaptureFixture, query: str) -> None:
    async with session.get(f"{keyless}/api/deliveries?{query}") as resp:
        assert resp.status == 400
        assert resp.content_type == "application/json" and (await resp.json())["error"]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("limit", ["1", "5000", "200"])
async def test_limits_in_range_are_accepted(keyless: str, session: aiohttp.ClientSession, limit: str) -> None:
    async with session.get(f"{keyless}/api/deliveries?limit={limit}&state=pending,delivered") as resp:
        assert resp.status == 200 and await resp.json() == []


async def test_openapi_document_describes_the_api(keyless: str, session: aiohttp.ClientSession) -> None:
    async with session.get(keyless + "/api/openapi.json") as resp:
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert {"/api/status", "/api/deliveries", "/metrics"} <= set(doc["paths"])
    limit = next(p for p in doc["paths"]["/api/deliveries"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 5000)
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def _request(peer: str, forwarded: str | None = None) -> object:
    class Transport:
        def get_extra_info(self, name: str, default: object = None) -> object:
            return (peer, 1234) if name == "peername" else default

    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return make_mocked_request("GET", "/", headers=headers, transport=Transport())


def test_client_address_believes_forwarded_for_only_from_trusted_proxies() -> None:
    trusted = ClientAddress(["10.0.0.0/8", "127.0.0.1"])
    assert trusted(_request("10.1.2.3", "198.51.100.7")) == "198.51.100.7"
    assert trusted(_request("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9")) == "198.51.100.7"   # rightmost untrusted
    assert trusted(_request("203.0.113.5", "127.0.0.1")) == "203.0.113.5"       # not a proxy: header ignored
    assert trusted(_request("10.1.2.3", "not-an-ip")) == "10.1.2.3"
    assert ClientAddress()(_request("127.0.0.1", "198.51.100.7")) == "127.0.0.1"


def test_hash_api_key_command_prints_a_hash_the_config_accepts(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "main.py", "hash-api-key"], input=KEY + "\n", capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout
    line = next(x for x in out.splitlines() if "sha256$" in x)
    assert json.loads(line.split(":", 1)[1].strip()) == hash_api_key(KEY) and KEY not in out
    short = subprocess.run([sys.executable, "main.py", "hash-api-key"], input="short\n", capture_output=True,
                           text=True, cwd=ROOT)
    assert short.returncode == 2
