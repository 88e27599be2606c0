"""E-mail through SMTP with aiosmtplib (asyncio-native, maintained by the aio-libs community).

Reply codes per RFC 5321 §4.2.1: 4yz is a transient failure (try again later), 5yz a permanent one
(wrong address, refused sender, failed authentication). Government mail servers usually want
STARTTLS on 587 or implicit TLS on 465 and a login; all of that is per-server configuration.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from channels.base import PermanentError, RetryLater
from channels.failures import Platform
from channels.scrub import scrub

MAIL = Platform("邮件服务器", prefix="", sent_note="（邮件可能已发出）")


class SmtpSettings(BaseModel):
    """The outgoing mail server (``[notify.smtp]`` in the config)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    host: str
    port: int = Field(587, ge=1, le=65535)
    security: str = Field("starttls", pattern="^(starttls|tls|none)$")   # none: only for a local relay
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str                                         # 转载中枢 <syndicator@example.gov.cn>
    timeout_seconds: float = Field(20, gt=0)


class SmtpMailer:
    """Sends one message to one address."""

    kind = "email"

    def __init__(self, settings: SmtpSettings, to: str) -> None:
        self.settings, self.to = settings, to

    def describe(self) -> str:
        name, _, domain = self.to.partition("@")
        return f"邮件 {name[:2]}…@{domain}"

    def message(self, title: str, text: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = self.to
        msg["Subject"] = title
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.settings.sender.rpartition("@")[2].strip("> ") or None)
        msg.set_content(text, charset="utf-8")
        return msg

    async def send(self, title: str, text: str) -> None:
        s = self.settings
        password = s.password.get_secret_value()
        try:
            await aiosmtplib.send(
                self.message(title, text), hostname=s.host, port=s.port, timeout=s.timeout_seconds,
                use_tls=s.security == "tls", start_tls=True if s.security == "starttls" else False,
                username=s.username or None, password=password or None)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PermanentError("邮件服务器拒绝登录，请检查账号和密码", scrub(str(exc), password),
                                 code=exc.code) from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(400 <= c < 500 for c in codes):
                raise RetryLater(f"邮件服务器暂时拒收（{codes[0]}），稍后重试", scrub(str(exc), password),
                                 code=codes[0]) from None
            raise PermanentError(f"邮件服务器拒收地址 {self.describe()}", scrub(str(exc), password),
                                 code=codes[0] if codes else None) from None
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise RetryLater(f"邮件服务器暂时拒收（{exc.code}），稍后重试", scrub(str(exc), password),
                                 code=exc.code) from None
            raise PermanentError(f"邮件服务器拒收（{exc.code}）", scrub(str(exc), password), code=exc.code) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:   # no reply code: the transport failed
            raise MAIL.transport(exc, sends=True, detail=scrub(repr(exc), password)) from None
