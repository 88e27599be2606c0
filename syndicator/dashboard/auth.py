"""Dashboard login: password hashes, signed session cookies, CSRF tokens and a login rate limit.

Only the standard library does the cryptography: PBKDF2-HMAC-SHA256 password hashes in the
``pbkdf2_sha256$<iterations>$<salt_b64>$<hash_b64>`` form, HMAC-SHA256 signed cookies keyed by a
per-process random key (sessions end when the process restarts), ``compare_digest`` for every
check. The session carries its own CSRF token (synchronizer pattern); the login form, which has
no session yet, uses a signed double-submit cookie. Hashing runs off the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import getpass
import hashlib
import hmac
import json
import logging
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from syndicator.config import DashboardSettings
from syndicator.passwords import PBKDF2_ITERATIONS, hash_password, parse_hash, verify_password
from syndicator.roles import Role
from syndicator.web_keys import CLIENT

log = logging.getLogger(__name__)



def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    sid: str
    csrf: str
    expires: float


class Signer:
    """HMAC-SHA256 over a purpose label and a JSON payload; the key lives only in this process."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}|{body}".encode("ascii"), hashlib.sha256).digest())

    def sign(self, purpose: str, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        return f"{body}.{self._mac(purpose, body)}"

    def unsign(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(purpose, body).encode("ascii")):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None


class LoginLimiter:
    """At most ``max_failures`` failed logins per key (an address, a user name, a pair) in ``window`` seconds."""

    def __init__(self, max_failures: int = 5, window: float = 300.0, *,
                 now: Callable[[], float] = time.monotonic, max_clients: int = 10_000) -> None:
        self.max_failures, self.window, self.now, self.max_clients = max_failures, window, now, max_clients
        self._failures: dict[str, list[float]] = {}

    def _recent(self, ip: str) -> list[float]:
        cutoff = self.now() - self.window
        kept = [t for t in self._failures.get(ip, []) if t > cutoff]
        if kept:
            self._failures[ip] = kept
        else:
            self._failures.pop(ip, None)
        return kept

    def wait_seconds(self, ip: str) -> float:
        """0 when the address may try; else how long until its oldest counted failure expires."""
        recent = self._recent(ip)
        return 0.0 if len(recent) < self.max_failures else max(1.0, recent[0] + self.window - self.now())

    def failed(self, ip: str) -> None:
        if len(self._failures) >= self.max_clients and ip not in self._failures:
            self._failures.pop(next(iter(self._failures)))          # forget the longest-tracked address
        self._failures.setdefault(ip, []).append(self.now())

    def succeeded(self, ip: str) -> None:
        self._failures.pop(ip, None)


class LoginThrottle:
    """Failed logins counted three ways, so that one attacker cannot lock out anyone else:

    - per (user name, address): 5 in 5 minutes — guessing one user's password from one place;
    - per address: 20 in 5 minutes — spraying many names from one place; it blocks only that address;
    - per user name: 50 in 5 minutes, from all addresses together — a distributed guess at one account.
      Being above the per-address limit, it cannot be reached from a single address (nor two), so one
      attacker can never lock a real user out; only many addresses together slow that user down.

    Behind a reverse proxy every client has the proxy's address unless ``[web] trusted_proxies`` names it
    (syndicator.web_auth.ClientAddress): then a wrong guess by anyone would count against everyone.
    """

    def __init__(self, *, now: Callable[[], float] = time.monotonic, window: float = 300.0,
                 per_pair: int = 5, per_address: int = 20, per_user: int = 50) -> None:
        self.pair = LoginLimiter(per_pair, window, now=now)
        self.address = LoginLimiter(per_address, window, now=now)
        self.user = LoginLimiter(per_user, window, now=now)

    @property
    def now(self) -> Callable[[], float]:
        return self.pair.now

    @now.setter
    def now(self, value: Callable[[], float]) -> None:       # tests drive all three clocks at once
        self.pair.now = self.address.now = self.user.now = value

    def wait_seconds(self, ip: str, user: str) -> float:
        return max(self.pair.wait_seconds(f"{user}\0{ip}"), self.address.wait_seconds(ip),
                   self.user.wait_seconds(user))

    def failed(self, ip: str, user: str) -> None:
        self.pair.failed(f"{user}\0{ip}")
        self.address.failed(ip)
        self.user.failed(user)

    def succeeded(self, ip: str, user: str) -> None:
        self.pair.succeeded(f"{user}\0{ip}")


class Auth:
    """Users, sessions and the login throttle of one dashboard."""

    def __init__(self, settings: DashboardSettings, *, limiter: LoginThrottle | None = None) -> None:
        self.settings = settings
        self.signer = Signer()
        self.limiter = limiter or LoginThrottle()
        self._revoked: dict[str, float] = {}
        self._hashing = asyncio.Semaphore(2)          # PBKDF2 is CPU work: bound it
        self._dummy: str | None = None
        prefix = "__Host-" if settings.secure_cookies else ""
        self.cookie, self.login_cookie, self.flash_cookie = (f"{prefix}syn_{n}" for n in ("session", "login", "flash"))

    async def check_password(self, user: str, password: str) -> bool:
        entry = self.settings.users.get(user)
        secret = None if entry is None else entry.password_hash
        async with self._hashing:
            if secret is None:   # same work for an unknown name: no user enumeration by timing
                if self._dummy is None:
                    its = next((parse_hash(u.password_hash.get_secret_value())[0]
                                for u in self.settings.users.values()), PBKDF2_ITERATIONS)
                    self._dummy = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16), iterations=its)
                await asyncio.to_thread(verify_password, password, self._dummy)
                return False
            return await asyncio.to_thread(verify_password, password, secret.get_secret_value())

    def role(self, user: str) -> Role:
        """The user's role, read from the settings at each request (a changed role applies at once)."""
        entry = self.settings.users.get(user)
        return "inspector" if entry is None else entry.role

    def new_session(self, user: str) -> tuple[Session, str]:
        s = Session(user, secrets.token_urlsafe(16), secrets.token_urlsafe(32),
                    time.time() + self.settings.session_hours * 3600)
        return s, self.signer.sign("session", {"u": s.user, "s": s.sid, "c": s.csrf, "e": s.expires})

    def session(self, request: web.Request) -> Session | None:
        p = self.signer.unsign("session", request.cookies.get(self.cookie))
        if p is None:
            return None
        try:
            s = Session(str(p["u"]), str(p["s"]), str(p["c"]), float(p["e"]))
        except (KeyError, TypeError, ValueError):
            return None
        if s.expires <= time.time() or s.sid in self._revoked or s.user not in self.settings.users:
            return None
        return s

    def revoke(self, s: Session) -> None:
        now = time.time()
        self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
        self._revoked[s.sid] = s.expires

    def set_cookie(self, resp: web.StreamResponse, name: str, value: str, max_age: float | None = None) -> None:
        resp.set_cookie(name, value, max_age=None if max_age is None else int(max_age), path="/", httponly=True,
                        samesite="Strict", secure=self.settings.secure_cookies)

    def clear_cookie(self, resp: web.StreamResponse, name: str) -> None:
        resp.del_cookie(name, path="/", secure=self.settings.secure_cookies, httponly=True, samesite="Strict")

    def set_flash(self, resp: web.StreamResponse, ok: bool, message: str) -> None:
        self.set_cookie(resp, self.flash_cookie, self.signer.sign("flash", {"ok": ok, "m": message[:400]}), 120)

    def flash(self, request: web.Request) -> tuple[bool, str] | None:
        p = self.signer.unsign("flash", request.cookies.get(self.flash_cookie))
        return None if p is None else (bool(p.get("ok")), str(p.get("m", "")))

    def login_token(self, request: web.Request) -> str | None:
        """The login form's double-submit token, from its signed cookie (None when absent or forged)."""
        p = self.signer.unsign("login", request.cookies.get(self.login_cookie))
        return None if p is None else str(p.get("t", ""))

    def new_login_token(self) -> tuple[str, str]:
        token = secrets.token_urlsafe(32)
        return token, self.signer.sign("login", {"t": token})


def tokens_match(given: Any, expected: str | None) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())  # type: ignore[union-attr]


def client_ip(request: web.Request) -> str:
    """The client's address: X-Forwarded-For is believed only from ``[web] trusted_proxies``
    (syndicator.web_auth.ClientAddress, wired by syndicator.web as ``CLIENT``)."""
    address = request.app.get(CLIENT)
    return address(request) if address is not None else request.remote or "unknown"


# ---------------------------------------------------------------- command line


def hash_password_cli(iterations: int = PBKDF2_ITERATIONS) -> int:
    """Read a password (twice on a terminal, one line from a pipe) and print its hash for [dashboard.users]."""
    if sys.stdin.isatty():
        password = getpass.getpass("新密码 / new password: ")
        if password != getpass.getpass("再次输入 / again: "):
            print("error: the two passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 10:
        print("error: use at least 10 characters", file=sys.stderr)
        return 2
    print(hash_password(password, iterations=iterations))
    return 0


async def cmd_hash_password(args: argparse.Namespace) -> int:
    """``main.py hash-password [--iterations N]``."""
    return await asyncio.to_thread(hash_password_cli, getattr(args, "iterations", None) or PBKDF2_ITERATIONS)
