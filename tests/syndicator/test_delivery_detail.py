"""The delivery detail page and the exports filed with it, over HTTP: login required, linked from every
list, public URL / platform and hub times / attempts with platform codes / receipts shown, secrets
redacted, an audited correction of the upstream time, the printable report and the evidence ZIP."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from syndicator.redact import MASK
from tests.dashboard_support import FORMULA, SECRET, dashboard, get, login, post
from tests.syndicator.test_delays import sh


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        yield s


async def test_detail_page_shows_the_proof_and_every_list_links_to_it(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        store = d.hub.store
        for path in ("/delivery/1", "/report.html?month=2026-11", "/evidence.zip?unit=ezfgw&month=2026-11"):
            assert (await get(http, d.base + path))[0] == 303, path            # login first
        await login(http, d.base)
        delivered = (await store.deliveries(states=["delivered"]))[0]
        assert delivered.id is not None
        platform_time = sh("2026-11-20 08:15")
        await store.record_receipt(delivered.id, clock.now(), "retry", code=10023,
                                   body={"reason": "渠道故障：微博接口限流", "detail": "HTTP 403 error_code 10023"})
        await store.record_receipt(delivered.id, clock.now(), "delivered", external_id="4990",
                                   url=delivered.external_url, platform_published_at=platform_time,
                                   body={"idstr": "4990"})
        status, page = await get(http, f"{d.base}/delivery/{delivered.id}")
        assert status == 200
        item = await store.get_item(delivered.item_id)
        assert item is not None
        assert f'href="{delivered.external_url}"' in page and f'href="{item.url}"' in page
        for label in ("上游发布时间", "本系统发现时间", "截止时间", "平台发布时间", "本系统确认发布时间", "发送尝试",
                      "平台回执", "延误记录", "时间起算口径", "正常跟踪"):
            assert label in page, label
        assert "2026-11-20 08:15" in page and "10023" in page and "&quot;idstr&quot;" in page
        assert (await get(http, f"{d.base}/delivery/999999"))[0] == 404

        _status, failed_page = await get(http, f"{d.base}/delivery/{d.ids['failed']}")
        assert "10017" in failed_page, failed_page
        assert SECRET not in failed_page
        assert MASK in failed_page

        link = f'href="/delivery/{delivered.id}"'
        _s, listing = await get(http, f"{d.base}/deliveries?state=delivered")
        assert link in listing and f'href="{delivered.external_url}"' in listing   # the public link in the list too
        _s, delays = await get(http, f"{d.base}/delays?since=2026-01-01")
        assert 'href="/delivery/' in delays
        _s, report = await get(http, f"{d.base}/report?month=2026-11")
        assert 'href="/delivery/' in report and "逐条明细" in report and "/evidence.zip?unit=ezfgw" in report


async def test_correcting_the_upstream_time_from_the_page(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        store = d.hub.store
        await login(http, d.base)
        target = (await store.deliveries(states=["pending"]))[-1]
        assert target.id is not None
        _status, page = await get(http, f"{d.base}/delivery/{target.id}")
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        form = {"item_id": target.item_id, "time": "", "reason": "来源标注错误", "next": f"/delivery/{target.id}"}
        _s, refused = await post(http, f"{d.base}/actions/correct-time", {**form, "csrf": csrf})
        assert "无法解析时间" in refused
        assert (await post(http, f"{d.base}/actions/correct-time", {**form, "time": "2026-11-24 09:00"}))[0] == 403
        earlier = clock.now() - timedelta(days=1)
        form["time"] = f"{earlier.astimezone(sh('2026-01-01 00:00').tzinfo):%Y-%m-%d %H:%M}"
        _s, done = await post(http, f"{d.base}/actions/correct-time", {**form, "csrf": csrf})
        assert "上游发布时间已更正为" in done and "条投递的截止时间已重算" in done
        assert "网页用户 operator" in done and "来源标注错误" in done          # the correction row on the page
        audit = [a for a in await store.recent_alerts() if a["subject"] == "operator:网页用户 operator"]
        assert audit and "来源标注错误" in audit[0]["message"]
        moved = await store.get_delivery(target.id)
        assert moved is not None and moved.deadline_at != target.deadline_at


async def test_printable_report_and_evidence_zip(tmp_path, clock, serve, http) -> None:
    async with dashboard(tmp_path, clock, serve) as d:
        await login(http, d.base)
        async with http.get(f"{d.base}/report.html?month=2026-11") as resp:
            html = await resp.text()
            assert resp.status == 200 and "style-src 'sha256-" in resp.headers["Content-Security-Policy"]
        assert "@media print" in html and "<h2>逐条明细</h2>" in html and "<h2>口径说明</h2>" in html
        assert SECRET not in html
        async with http.get(f"{d.base}/evidence.zip?unit=ezczj&month=2026-11") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
            assert 'filename="evidence_ezczj_2026-11.zip"' in resp.headers["Content-Disposition"]
            data = await resp.read()
        z = zipfile.ZipFile(io.BytesIO(data))
        raw = z.read("evidence.csv")
        assert raw.startswith("\ufeff".encode())
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows and {r["单位"] for r in rows} == {"鄂州市财政局"}
        assert all(r["公开链接"].startswith("https://") for r in rows if r["状态"] == "已发布")
        assert not any(r["稿件"].startswith("=") for r in rows)              # formulas neutralised
        assert any(r["稿件"] == "'" + FORMULA for r in rows) or FORMULA not in raw.decode("utf-8-sig")
        assert (await get(http, f"{d.base}/evidence.zip?unit=nobody&month=2026-11"))[0] == 400
        async with http.get(f"{d.base}/evidence.zip?unit=ezfgw&month=2026-11") as resp:
            z = zipfile.ZipFile(io.BytesIO(await resp.read()))
        texts = [z.read(name).decode("utf-8-sig") for name in z.namelist()]
        assert any("10017" in t for t in texts), "the failed delivery's reason is in the package"
        assert not any(SECRET in t for t in texts) and any(MASK in t for t in texts)


async def test_detail_page_shows_each_verification_proof(tmp_path, clock, serve, http) -> None:
    from syndicator.store.verify import Proof, VerifyResult

    async with dashboard(tmp_path, clock, serve) as d:
        store = d.hub.store
        await login(http, d.base)
        delivered = (await store.deliveries(states=["delivered"]))[0]
        assert delivered.id is not None
        miss = Proof("absent", url="https://u.example.gov.cn/zzbz/", http_status=200, page_hash="ab" * 32,
                     reason="栏目页中未找到该稿件标题或链接")
        seen = Proof("seen", url="https://weibo.example/2/statuses/show.json", http_status=200, page_hash="cd" * 32,
                     matched="微博 ID：4990", api_json={"idstr": "4990", "visible": {"type": 0}},
                     reason="微博 4990 公开可见（statuses/show）")
        await store.record_verifications([VerifyResult(delivered.id, clock.now(), miss, "pending", clock.now())])
        await store.record_verifications([VerifyResult(delivered.id, clock.now(), seen, "verified", None,
                                                       verified_at=clock.now())])
        status, page = await get(http, f"{d.base}/delivery/{delivered.id}")
        assert status == 200
        for text in ("公开页面核验", "已核验：公开可见", "栏目页中未找到该稿件标题或链接", "微博 ID：4990", "abababab",
                     "&quot;visible&quot;", "核验次数"):
            assert text in page, text
        assert page.index("<h2>平台回执") < page.index("<h2>公开页面核验") < page.index("<h2>延误记录")
        _s, listing = await get(http, f"{d.base}/deliveries?state=delivered")
        assert "已核验：公开可见" in listing
        month = delivered.deadline_at.astimezone(sh("2026-11-01 00:00").tzinfo).strftime("%Y-%m")
        async with http.get(f"{d.base}/evidence.zip?unit={delivered.unit_id}&month={month}") as resp:
            z = zipfile.ZipFile(io.BytesIO(await resp.read()))
        proof = json.loads(z.read(f"receipts/{delivered.id}.json"))
        assert proof["verification"]["verify_state"] == "verified"
        assert [v["outcome"] for v in proof["verifications"]] == ["absent", "seen"]
