"""`python main.py check-config --online`: each account's credentials checked against its platform without
publishing (``Channel.verify``: JPush /v3/push/validate, a WeChat stable_token fetch in normal mode, Weibo
oauth2/get_token_info, a signed CMS lookup, a webhook lookup, the export directory's permissions).

One line per account. A check that cannot run is reported as such (跳过, with why), never as a pass. Tokens fetched
here live in memory only: the running hub's shared token in the store is not touched, and WeChat's normal-mode
stable_token call never invalidates it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from channels.base import ChannelContext, ChannelError, KeyValue
from channels.registry import channel_class
from core.clock import Clock
from core.models import UnitRef
from syndicator.config import Settings


class MemoryKeyValue:
    """The channels' KeyValue for a one-off check: writes stay in the process; reads fall back to ``source`` (the
    hub's store, for tokens re-authorisation stored there), which is never written."""

    def __init__(self, source: KeyValue | None = None) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._leases: dict[str, str] = {}
        self._source = source

    async def get(self, key: str, max_age_s: float = 0) -> str | None:
        value, until = self._data.get(key, (None, None))
        if value is not None and (until is None or until > time.monotonic()):
            return value
        return await self._source.get(key) if self._source is not None else None

    async def put(self, key: str, value: str, ttl_seconds: float | None = None) -> None:
        self._data[key] = (value, None if ttl_seconds is None else time.monotonic() + ttl_seconds)

    async def lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        return self._leases.setdefault(name, holder) == holder

    async def release(self, name: str, holder: str) -> None:
        if self._leases.get(name) == holder:
            del self._leases[name]


@dataclass(frozen=True, slots=True)
class CheckLine:
    account_id: str
    kind: str
    status: str              # "OK" | "FAIL" | "SKIP"
    message: str

    def __str__(self) -> str:
        return f"{self.status:4s} {self.account_id} ({self.kind}): {self.message}"


async def check_online(settings: Settings, clock: Clock, *, timeout_s: float = 30.0,
                       stored: KeyValue | None = None) -> list[CheckLine]:
    """Verify every enabled account, a few at a time; lines in config order."""
    async def alert(_subject: str, _message: str) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        ctx = ChannelContext(session=session, kv=MemoryKeyValue(stored), clock=clock, alert=alert,
                             holder_id="check-config", public_url=settings.web.public_url,
                             extra={"base_dir": str(settings.base_dir)})
        gate = asyncio.Semaphore(8)

        async def one(unit: UnitRef, account_id: str, kind: str, channel_factory: object) -> CheckLine:
            async with gate:
                channel = channel_factory()  # type: ignore[operator]
                try:
                    async with asyncio.timeout(timeout_s):
                        return CheckLine(account_id, kind, "OK", await channel.verify(unit))
                except NotImplementedError:
                    return CheckLine(account_id, kind, "SKIP", "该平台无法在不发布的情况下核验凭据（未核验）")
                except ChannelError as exc:
                    return CheckLine(account_id, kind, "FAIL", exc.reason)
                except TimeoutError:
                    return CheckLine(account_id, kind, "FAIL", f"平台 {timeout_s:.0f} 秒内未应答")
                except aiohttp.ClientError as exc:
                    return CheckLine(account_id, kind, "FAIL", f"无法连接平台：{type(exc).__name__}")
                finally:
                    await channel.close()

        jobs = []
        for u, account in settings.accounts():
            cls = channel_class(account.kind)
            jobs.append(one(UnitRef(u.id, u.name), account.id, account.kind,
                            lambda cls=cls, account=account: cls(account, ctx)))
        return list(await asyncio.gather(*jobs))
