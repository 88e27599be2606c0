"""The sandbox look-alikes in a process of their own, for the benchmarks.

Started by ``_common.sandbox_process``: every service on an ephemeral 127.0.0.1 port; prints one JSON
line ``{service: base_url}``, then serves until its stdin closes (or SIGTERM), then cleans up.
``--plain-feeds`` adds ``/plain/{feed}.xml`` to the upstream: the same RSS without ETag/Last-Modified,
so a poller must fall back to comparing body hashes. ``--upstream-hosts N`` serves the upstream on N
loopback addresses (127.0.0.1 … 127.0.0.N, each its own host to a client), reported as ``upstream``,
``upstream.1`` … ``upstream.{N-1}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

import _common  # noqa: F401  (puts the repository on sys.path)
from aiohttp import web

from sandbox.common import Faults
from sandbox.server import DEMO_SECRETS, build_apps
from sandbox.upstream import FEEDS, UPSTREAM, UpstreamState, render_rss


async def plain_rss(request: web.Request) -> web.Response:
    feed = request.match_info["feed"]
    if feed not in FEEDS:
        raise web.HTTPNotFound()
    text = render_rss(request.app[UPSTREAM], feed, f"{request.scheme}://{request.host}")
    encoding = FEEDS[feed][2]
    return web.Response(body=text.encode(encoding), content_type="application/rss+xml", charset=encoding)


async def serve(options: dict[str, dict[str, object]], plain_feeds: bool, upstream_hosts: int = 1) -> None:
    options = {"cms": {"secret": DEMO_SECRETS["cms_secret"]}, **options}
    no_faults: dict[str, Faults] = {}
    apps = build_apps(UpstreamState(), no_faults, options)
    if plain_feeds:
        apps["upstream"].router.add_get("/plain/{feed}.xml", plain_rss)
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    try:
        for name, app in apps.items():
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            urls[name] = f"http://127.0.0.1:{runner.addresses[0][1]}"
            for k in range(1, upstream_hosts if name == "upstream" else 1):
                extra = web.TCPSite(runner, f"127.0.0.{k + 1}", 0, backlog=1024)
                await extra.start()
                urls[f"upstream.{k}"] = f"http://127.0.0.{k + 1}:{runner.addresses[-1][1]}"
        print(json.dumps(urls), flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        eof = asyncio.ensure_future(reader.read())
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({eof, waiter}, return_when=asyncio.FIRST_COMPLETED)
        for fut in (eof, waiter):
            fut.cancel()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--options", default="{}", help="JSON: per-service build_app options")
    parser.add_argument("--plain-feeds", action="store_true")
    parser.add_argument("--upstream-hosts", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(serve(json.loads(args.options), args.plain_feeds, args.upstream_hosts))


if __name__ == "__main__":
    main()
