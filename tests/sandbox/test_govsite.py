"""sandbox.govsite behaves like the real sites where it matters to clients."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from sandbox import govsite_pages as pages
from sandbox.govsite import GOVSITE, add_govsite_routes, clearance_for
from sandbox.upstream import UPSTREAM, build_app


async def make_client() -> TestClient:
    app = build_app()
    add_govsite_routes(app)
    app[UPSTREAM].publish("湖北省人民政府关于示范工作的通知（湉）", feeds={"province"})
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_library_rejects_non_browser_user_agents() -> None:
    client = await make_client()
    try:
        resp = await client.get("/search-gov/data?q=&p=1&n=20")           # aiohttp's own User-Agent
        assert resp.status == 403 and "text/html" in resp.headers["Content-Type"]
        resp = await client.get("/search-gov/data", headers={"User-Agent": "Mozilla/5.0 HeadlessChrome/120"})
        assert resp.status == 403
        resp = await client.get("/search-gov/data", headers={"User-Agent": "Mozilla/5.0 (X11) Chrome/120"})
        vo = (await resp.json())["searchVO"]
        # t=zhengcelibrary as on the real site: top-level listVO null, hits per category in catMap.
        assert resp.status == 200 and vo["listVO"] is None and vo["totalCount"] == 0
        assert {c: v["listVO"] for c, v in vo["catMap"].items()} == \
            {"gongwen": [], "bumenfile": [], "otherfile": [], "gongbao": []}
    finally:
        await client.close()


async def test_hubei_pages_are_gbk_with_meta_charset_only() -> None:
    client = await make_client()
    try:
        resp = await client.get("/zfwj/ezf/index.shtml")
        assert resp.status == 200 and "charset" not in resp.headers["Content-Type"]
        body = await resp.read()
        assert "（湉）".encode("gbk") in body and b"charset=gb2312" in body
        assert (await client.get("/zfwj/ezf/index_1.shtml")).status == 404
        assert (await client.get("/zfwj/nosuch/index.shtml")).status == 404
    finally:
        await client.close()


async def test_gate_answers_412_until_the_script_cookie_is_present() -> None:
    client = await make_client()
    try:
        resp = await client.get("/gated/zfwj/ezf/index.shtml")
        assert resp.status == 412
        assert "document.cookie" in await resp.text() and "location.reload" in await resp.text()
        sid = resp.cookies["__gate_sid"].value
        # A client that runs the script's arithmetic gets through (the browser does exactly this).
        client.session.cookie_jar.update_cookies({"__gate_clr": clearance_for(sid)})
        resp = await client.get("/gated/zfwj/ezf/index.shtml")
        assert resp.status == 200 and "湖北省人民政府".encode("gbk") in await resp.read()
        state = client.server.app[GOVSITE]
        assert (state.challenges, state.passes) == (1, 1)
        await client.post("/_sandbox/gate", json={"revoke": True})
        assert (await client.get("/gated/zfwj/ezf/index.shtml")).status == 412
    finally:
        await client.close()


async def test_each_site_in_both_encodings_declared_as_the_real_sites_do() -> None:
    """gov.cn-like pages name their charset in the header and the meta; TRS pages only in the meta."""
    app = build_app()
    add_govsite_routes(app)
    doc = app[UPSTREAM].publish("国务院关于示范工作的通知（湉）", feeds={"gwy", "jiedu", "province"})
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        for gov, hubei in (("utf-8", "gbk"), ("gbk", "utf-8")):
            app[UPSTREAM].html_charset, app[GOVSITE].hubei_charset = gov, hubei
            for path in ("/pushinfo/v150203/", "/zhengce/zuixin/ZUIXINZHENGCE.json", doc.path,
                         "/zhengce/jiedu/ZCJD_QZ.json"):
                resp = await client.get(path)
                body = await resp.read()
                assert resp.headers["Content-Type"].endswith(f"charset={gov}"), path
                assert doc.title.encode(gov) in body, path
                if not path.endswith(".json"):
                    assert f'<meta charset="{gov}">'.encode() in body, path
            resp = await client.get("/search-gov/data?q=&p=1&n=5", headers={"User-Agent": "Mozilla/5.0 Chrome/126"})
            assert resp.headers["Content-Type"].endswith(f"charset={gov}")
            assert doc.title.encode(gov) in await resp.read()
            label = b"gb2312" if hubei == "gbk" else b"utf-8"
            article = pages.hubei_path(doc, "ezf")
            for path in ("/zfwj/ezf/index.shtml", article):
                resp = await client.get(path)
                body = await resp.read()
                assert resp.status == 200 and "charset" not in resp.headers["Content-Type"], path
                assert b"charset=" + label in body and doc.title.encode(hubei) in body, path
    finally:
        await client.close()
