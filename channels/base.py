"""The channel protocol: what every publishing platform adapter provides.

Shaped after Benthos outputs (connect / write / close, at-least-once): ``publish`` returns only
when the platform has accepted the post, or raises one of the typed errors below, which tell the
hub what to do next. Operator-facing reasons are Simplified Chinese; details are English.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from core.clock import Clock
from core.models import Alert, Item, UnitRef


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the platform said when it accepted a post."""

    external_id: str
    url: str | None = None
    note: str | None = None          # e.g. 平台判定为重复内容，视为已发布
    pending: bool = False            # accepted, outcome comes later (see Channel.confirm)
    possible_duplicate: bool = False
    # The platform itself refused this attempt as a repeat of one it already has (Weibo 20019, WeChat 45065,
    # a CMS key it knows): the post exists exactly once, whatever an earlier ambiguous attempt did.
    deduplicated: bool = False
    published_at: datetime | None = None   # the platform's own publish time, where its answer gives one
    raw: Mapping[str, Any] | None = None   # the platform's answer as received (kept as proof; never secrets)


class ChannelError(Exception):
    """Base of the typed errors. ``reason`` is for operators (Chinese), ``detail`` for logs."""

    def __init__(self, reason: str, detail: str = "", *, code: str | int | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail
        self.code = code


class RetryLater(ChannelError):
    """Transient: rate limit, outage, 5xx. Retry after ``retry_after`` seconds (None: use backoff).

    ``ambiguous``: the request may have reached the platform and been acted on (a timeout, a dropped
    connection, an unreadable success reply). The hub then reconciles before resending (``Channel.lookup``)
    and records a blind resend as a possible duplicate.
    """

    def __init__(self, reason: str, detail: str = "", *, retry_after: float | None = None,
                 code: str | int | None = None, ambiguous: bool = False) -> None:
        super().__init__(reason, detail, code=code)
        self.retry_after = retry_after
        self.ambiguous = ambiguous


class AuthExpired(ChannelError):
    """Credentials are no longer accepted and cannot be renewed automatically.

    The hub holds the account's deliveries (not failed) and alerts a person to re-authorise.
    """


class AccountHeld(AuthExpired):
    """The platform holds the whole account (IP awaiting the admin's confirmation, API banned, account frozen,
    mass send awaiting approval). Handled like AuthExpired: the account's deliveries are held and a person is
    alerted with ``reason``; resuming the account releases them. Not a re-authorisation, hence its own type.
    """


class PermanentError(ChannelError):
    """The platform will never accept this post as rendered; a person must look at it."""


class KeyValue(Protocol):
    """Durable shared key-value with expiry, backed by the store (tokens, cached media ids)."""

    async def get(self, key: str, max_age_s: float = 0) -> str | None:
        """The value; with ``max_age_s``, one read from the store at most that long ago may be answered
        again (for a hot record that rarely changes, such as a rate-limit block checked before every call)."""
        ...

    async def put(self, key: str, value: str, ttl_seconds: float | None = None) -> None: ...

    async def lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew an exclusive lease; True if ``holder`` owns it now."""
        ...

    async def release(self, name: str, holder: str) -> None:
        """Give the lease up, if ``holder`` has it."""
        ...


@dataclass(slots=True)
class ChannelContext:
    session: aiohttp.ClientSession
    kv: KeyValue
    clock: Clock
    alert: Alert
    holder_id: str = "hub"                 # identifies this hub process for leases
    public_url: str = ""                   # the hub's own base URL (platform callbacks)
    extra: dict[str, Any] = field(default_factory=dict)


class AccountConfig(BaseModel):
    """One channel account of a unit, as written in the config file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    base_url: str | None = None           # the platform's API root; the sandbox's in demo
    credentials: dict[str, SecretStr] = {}
    options: dict[str, Any] = {}
    concurrency: int = 2                  # sends in flight at once for this account
    rate_per_hour: int | None = Field(None, ge=1)   # None: the channel's own default (0 would mean "never")
    enabled: bool = True

    def secret(self, name: str) -> str:
        value = self.credentials.get(name)
        if value is None:
            raise PermanentError(f"账号 {self.id} 缺少凭据 {name}", f"account {self.id}: credential {name!r} missing")
        return value.get_secret_value()


class Channel(abc.ABC):
    """One unit's account on one platform."""

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    default_rate_per_hour: ClassVar[int | None] = None

    def __init__(self, account: AccountConfig, ctx: ChannelContext) -> None:
        self.account = account
        self.ctx = ctx
        self.options = self.Options.model_validate(account.options)

    @abc.abstractmethod
    def render(self, item: Item, unit: UnitRef) -> Any:
        """The item in this platform's own form (pure; tests call it directly)."""

    @abc.abstractmethod
    async def publish(self, item: Item, unit: UnitRef, key: str) -> Receipt:
        """Post ``item``; ``key`` is the delivery's idempotency key."""

    async def confirm(self, receipt: Receipt) -> Receipt | None:
        """Outcome of a pending receipt: final Receipt, None while still pending, or raise."""
        return receipt

    async def lookup(self, key: str) -> Receipt | None:
        """Ask the platform whether a post with this key exists (reconcile after a crash).

        Raise NotImplementedError when the platform cannot be asked.
        """
        raise NotImplementedError

    async def start(self) -> None:
        """Prepare before the first send, e.g. sweep what a crashed process left (called once by the hub)."""
    async def verify(self, unit: UnitRef) -> str:
        """Check the account's credentials against the platform without publishing anything.

        Returns what was confirmed (Chinese, for the operator); raises ChannelError when the platform refuses, or
        NotImplementedError when the platform offers no call that checks without publishing.
        """
        raise NotImplementedError

    async def close(self) -> None:
        """Release what the channel holds (not the shared session)."""

    @property
    def rate_per_hour(self) -> int | None:
        if self.account.rate_per_hour is not None:
            return self.account.rate_per_hour
        return self.default_rate_per_hour
