"""Who is asking: API keys for ``/api/*`` and ``/metrics``, and the client address behind a reverse proxy.

API keys are random 256-bit tokens sent as ``Authorization: Bearer <key>``; the config holds only
``sha256$<hex>`` of each (``main.py hash-api-key``). A fast hash is right here, unlike for passwords: a
key has 256 bits of entropy, so there is nothing to guess, and every request is checked.

Without any configured key the API answers only a client on the loopback interface, and only when no
proxy stands between (a request that carries forwarding headers from an untrusted peer is a proxy's, and
the proxy could be serving anyone). ``X-Forwarded-For`` is read only when the peer is a listed proxy.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
_KEY_HASH = re.compile(r"^sha256\$[0-9a-f]{64}$")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def hash_api_key(key: str) -> str:
    return "sha256$" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_api_key_hash(value: str) -> str:
    if not _KEY_HASH.match(value):
        raise ValueError("not a sha256$<64 hex digits> API key hash (make one with: python main.py hash-api-key)")
    return value


def check_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
    return value


def key_matches(authorization: str | None, hashes: Sequence[str]) -> bool:
    """Constant-time comparison of the bearer key's hash with every configured hash."""
    if not authorization or not authorization.startswith("Bearer "):
        return False
    given = hash_api_key(authorization[7:].strip()).encode()
    found = False
    for expected in hashes:
        found |= hmac.compare_digest(given, expected.encode())
    return found


class ClientAddress:
    """The client's address: the peer, or (only when the peer is a trusted proxy) the nearest address in
    ``X-Forwarded-For`` that is not itself a trusted proxy."""

    def __init__(self, trusted: Sequence[str] = ()) -> None:
        self.trusted: tuple[Network, ...] = tuple(ipaddress.ip_network(t, strict=False) for t in trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def __call__(self, request: web.Request) -> str:
        peer = request.remote or "unknown"
        if not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
        for hop in reversed(hops):              # the proxy appends: the rightmost untrusted hop is the client
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer                 # garbage where an address should be: trust nothing of it
        return hops[0] if hops else peer

    def is_loopback_client(self, request: web.Request) -> bool:
        """The request comes from this machine and nobody else: a loopback client, no untrusted proxy between."""
        if not self._is_trusted(request.remote or "") and any(h in request.headers for h in FORWARDING_HEADERS):
            return False            # a proxy we were not told about forwarded it: the client could be anyone
        try:
            return ipaddress.ip_address(self(request)).is_loopback
        except ValueError:
            return False


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def api_guard(hashes: Sequence[str], address: ClientAddress, count_refusal: Callable[[str], None]) -> Any:
    """aiohttp middleware: ``/api/*`` and ``/metrics`` need a valid key (or, with none configured, a loopback
    client). Refusals are logged with the client address only (never the key) and counted."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not (path.startswith("/api/") or path == "/metrics"):
            return await handler(request)
        if hashes:
            if key_matches(request.headers.get("Authorization"), hashes):
                return await handler(request)
            reason = "missing_key" if "Authorization" not in request.headers else "bad_key"
            log.warning("api: %s refused (%s) from %s", path, reason, address(request))
            count_refusal(reason)
            resp = json_error(401, "a valid API key is required (Authorization: Bearer <key>)")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="syndicator"'
            return resp
        if address.is_loopback_client(request):
            return await handler(request)
        log.warning("api: %s refused (no API key configured, client %s is not on loopback)", path, address(request))
        count_refusal("not_loopback")
        return json_error(403, "no API key is configured: the API answers only on this machine (add [web] api_keys)")

    return middleware


def hash_api_key_cli() -> int:
    """Print a new random key (give it to the client) and its hash (put it in [web] api_keys); with a key on
    stdin (a pipe), hash that one instead."""
    if sys.stdin.isatty():
        key = secrets.token_urlsafe(32)
        print(f"key  (give to the API client, shown once): {key}")
    else:
        key = sys.stdin.readline().strip()
        if len(key) < 32:
            print("error: an API key needs at least 32 characters (omit stdin to have one made)", file=sys.stderr)
            return 2
    print(f'hash (add to [web] api_keys):            "{hash_api_key(key)}"')
    return 0


async def cmd_hash_api_key(args: argparse.Namespace) -> int:
    """``main.py hash-api-key``."""
    return hash_api_key_cli()
