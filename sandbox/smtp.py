"""A mail server look-alike (aiosmtpd) that records what it accepted and can refuse on request.

It requires a login (AUTH PLAIN/LOGIN) with the configured user, as a government relay does, and answers
scripted reply codes (RFC 5321 §4.2.1: 4yz transient, 5yz permanent) to exercise the sender's handling.
It speaks plain SMTP on loopback (a local relay); STARTTLS/implicit TLS are per-server settings of the
sender (``channels.notify.email``) that this look-alike does not offer.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import deque
from email import message_from_bytes, policy
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class MailRecorder:
    """The handler: keeps accepted messages and pops scripted failures."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.script: deque[str] = deque()        # e.g. "451 4.3.0 try later", "550 5.1.1 no such user"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if self.script:
            return self.script.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = message_from_bytes(raw, policy=policy.default)
        body = msg.get_body(("plain",))
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "subject": str(msg["Subject"]), "text": body.get_content() if body else ""})
        return "250 Message accepted"


def _authenticator(user: str, password: str) -> Any:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
        return AuthResult(success=ok, handled=False)   # handled=False: aiosmtpd answers 535 itself

    return check


async def start_smtp(host: str = "127.0.0.1", port: int = 0, *, user: str = "hub", password: str = "sandbox"
                     ) -> tuple[asyncio.Server, MailRecorder]:
    """Serve on the running loop; returns the server (``sockets[0]`` has the port) and its recorder."""
    recorder = MailRecorder()
    loop = asyncio.get_running_loop()
    # AUTH without TLS is deliberate here (a loopback relay); aiosmtpd warns about it on every connection.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = await loop.create_server(
        lambda: SMTP(recorder, authenticator=_authenticator(user, password), auth_required=True,
                     auth_require_tls=False, hostname="sandbox-mail"), host, port)
    return server, recorder
