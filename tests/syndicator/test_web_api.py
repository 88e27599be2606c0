"""The hub's HTTP face: health, JSON status and deliveries, Prometheus metrics."""

from __future__ import annotations

from datetime import timedelta

from sandbox.server import DEMO_SECRETS
from sandbox.upstream import UpstreamState
from sandbox.upstream import build_app as build_upstream
from sandbox.webhook import build_app as build_webhook
from syndicator.app import Hub
from syndicator.web import start_web
from tests.hub_support import drain, hub_settings, rss_source, webhook_and_site_units


async def test_status_deliveries_and_metrics(serve, tmp_path, clock, session) -> None:
    state = UpstreamState()
    state.publish("国务院关于接口测试的通知")
    upstream = await serve(build_upstream(state))
    receiver = await serve(build_webhook(DEMO_SECRETS["webhook"]))
    settings = hub_settings(tmp_path, sources=[rss_source("gwy", f"{upstream}/rss/gwy.xml"),
                                               rss_source("down", "http://127.0.0.1:9/x.xml")],
                            units=webhook_and_site_units(2, receiver, tmp_path / "site"))
    async with Hub(settings, clock=clock) as hub:
        runner = await start_web(hub.web_app(), hub.settings.web)
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            for source in settings.sources:
                await hub.watcher.poll(source)
            await drain(hub)
            clock.advance(timedelta(days=10).total_seconds())
            async with session.get(f"{base}/healthz") as resp:        # no loop running here: none can be late
                assert resp.status == 200 and (await resp.json())["problems"] == {}
            async with session.get(f"{base}/livez") as resp:
                assert (await resp.json()) == {"ok": True}
            async with session.get(f"{base}/api/status") as resp:
                status = await resp.json()
            assert status["deliveries"] == {"delivered": 4}
            assert {s["source"] for s in status["sources"]} == {"gwy", "down"}
            async with session.get(f"{base}/api/deliveries?state=delivered&limit=2") as resp:
                rows = await resp.json()
            assert len(rows) == 2 and rows[0]["state"] == "delivered" and rows[0]["external_url"]
            async with session.get(f"{base}/metrics") as resp:
                assert resp.headers["Content-Type"].startswith("text/plain")
                text = await resp.text()
            # a scraper that asks for OpenMetrics gets it (prometheus-client chooses the encoder)
            async with session.get(f"{base}/metrics", headers={"Accept": "application/openmetrics-text"}) as resp:
                assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
                open_metrics = await resp.text()
        finally:
            await runner.cleanup()
    assert 'syndicator_deliveries{state="delivered"} 4' in text
    assert 'syndicator_deliveries{state="pending"} 0' in text
    assert "syndicator_deliveries_overdue 0" in text
    assert 'syndicator_source_consecutive_errors{source="down"} 1' in text
    assert 'syndicator_source_last_success_timestamp_seconds{source="gwy"}' in text
    assert "# TYPE syndicator_deliveries gauge" in text
    assert "# TYPE syndicator_verifications_total counter" in text          # counters keep their _total names
    assert "process_cpu_seconds_total" in text and "python_info" in text   # the library's process metrics
    assert open_metrics.rstrip().endswith("# EOF") and 'syndicator_deliveries{state="delivered"} 4.0' in open_metrics
