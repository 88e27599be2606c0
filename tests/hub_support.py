"""Building a hub against sandbox servers in tests, and driving it without wall-clock waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.server import DEMO_SECRETS
from syndicator.app import Hub
from syndicator.config import Settings
from tests.dispatch_support import settle


def hub_settings(tmp_path: Path, *, sources: list[dict[str, Any]], units: list[dict[str, Any]],
                 storage_url: str | None = None, **hub: Any) -> Settings:
    return Settings.model_validate({
        "base_dir": tmp_path,
        "hub": {"instance_id": "test-hub", "data_dir": str(tmp_path / "var"), "retry_base_seconds": 10,
                "retry_cap_seconds": 600, "workers": 16, "send_timeout_seconds": 5, **hub},
        "storage": {"url": storage_url or f"sqlite:///{tmp_path / 'hub.db'}"},
        "web": {"port": 0},
        "sources": sources,
        "units": units,
    })


def rss_source(source_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": source_id, "name": source_id, "kind": "rss", "url": url, "interval": 60,
            "authority": "国务院办公厅", "origin": "中国政府网", **extra}


def webhook_and_site_units(n: int, webhook_base: str, site_dir: Path, *, lookup: bool = True,
                           concurrency: int = 2) -> list[dict[str, Any]]:
    units = []
    for i in range(n):
        hook_options: dict[str, Any] = {"url": f"{webhook_base}/hooks/u{i}"}
        if lookup:
            hook_options["lookup_url"] = f"{webhook_base}/hooks/lookup"
        units.append({"id": f"u{i}", "name": f"单位{i}", "accounts": [
            {"id": f"u{i}-hook", "kind": "webhook", "credentials": {"secret": DEMO_SECRETS["webhook"]},
             "options": hook_options, "concurrency": concurrency},
            {"id": f"u{i}-site", "kind": "static",
             "options": {"directory": str(site_dir / f"u{i}"), "public_url": f"https://u{i}.example.gov.cn/zzbz/"}},
        ]})
    return units


async def drain(hub: Hub, rounds: int = 200) -> None:
    """Dispatch until nothing is due now and nothing is in flight."""
    await settle(hub.dispatcher, rounds)
