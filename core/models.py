"""Domain records shared by feeds, hub and channels.

Plain dataclasses: the store maps them to rows, channels read them, nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# Reason prefix of deliveries held because their item's article body failed its plausibility check.
BODY_HOLD_PREFIX = "正文提取异常"

# How every part of the system raises an alert: (account id, message in Chinese).
Alert = Callable[[str, str], Awaitable[None]]


class DeliveryState(StrEnum):
    PENDING = "pending"          # waiting for its first attempt
    SENDING = "sending"          # claimed by a worker; ambiguous if found after a crash
    CONFIRMING = "confirming"    # platform accepted, outcome arrives later (WeChat freepublish)
    RETRYING = "retrying"        # failed transiently, next_attempt_at says when
    DELIVERED = "delivered"
    FAILED = "failed"            # permanent, needs a person
    SKIPPED = "skipped"          # a person decided not to send, with a reason
    HELD = "held"                # channel account paused or needs re-authorisation, or the body is implausible

    @property
    def is_final(self) -> bool:
        return self in (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.SKIPPED)


# The state sets, as the strings the store keeps, defined once: "open" = not yet finished (the dispatcher
# still owns it); "attention" = what an operator may have to act on (open, or failed and waiting for a person).
OPEN_STATES: tuple[str, ...] = tuple(s.value for s in DeliveryState if not s.is_final)
FINAL_STATES: tuple[str, ...] = tuple(s.value for s in DeliveryState if s.is_final)
ALL_STATES: tuple[str, ...] = OPEN_STATES + FINAL_STATES
ATTENTION_STATES: tuple[str, ...] = (*OPEN_STATES, DeliveryState.FAILED.value)


class DelayKind(StrEnum):
    AT_RISK = "at_risk"
    OVERDUE = "overdue"
    DELIVERED_LATE = "delivered_late"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_VISIBLE = "not_visible"      # sent on time, but not seen on the public page by the deadline


class CauseKind(StrEnum):
    """One fact that explains a delay; its facts are listed beside each (syndicator.labels renders them)."""

    ACCOUNT_PAUSED = "account_paused"            # reason
    PLATFORM_HOLD = "platform_hold"              # reason
    NEEDS_REAUTH = "needs_reauth"                # reason
    CHANNEL_ERROR = "channel_error"              # error, times
    AMBIGUOUS = "ambiguous"                      # last attempt's outcome unknown
    MANUAL_WAITING = "manual_waiting"            # note: the unit's 信息员 was told, the page shows nothing yet
    CONFIRMING = "confirming"                    # note: accepted, the platform has not published yet
    SENDING = "sending"                          # true only while open
    QUEUED = "queued"                            # true only while open
    UPDATED = "updated"                          # at: when the update was detected
    BASELINE = "baseline"                        # published_at
    DATE_UNREADABLE = "date_unreadable"          # raw: the upstream date text
    NO_DATE = "no_date"
    DATE_IMPLAUSIBLE = "date_implausible"        # published_at, gap_hours (detected - published)
    DETECTED_LATE = "detected_late"              # published_at, detected_at, note
    DETECTED_AFTER_DEADLINE = "detected_after_deadline"
    DETECTED_NEAR_DEADLINE = "detected_near_deadline"  # hours
    FIRST_SEND_LATE = "first_send_late"          # backlog: nothing else explains it
    POSSIBLE_DUPLICATE = "possible_duplicate"
    PLATFORM_NOTE = "platform_note"              # note
    PROVISIONAL = "provisional"                  # years: holiday arrangements not loaded
    VERIFY_NOTE = "verify_note"                  # note: the last live check's finding
    NOT_VERIFIED = "not_verified"                # no live check finished before the deadline
    LEGACY = "legacy"                            # text: a record written before causes were data


@dataclass(frozen=True, slots=True)
class DelayCause:
    """A cause as data, so a later record can reuse it without parsing an earlier record's Chinese.

    ``facts`` holds JSON values only (times as ISO 8601 strings), so the cause is stored as it is."""

    kind: CauseKind
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Item:
    """One upstream publication that must be reprinted (after de-duplication)."""

    source_id: str
    guid: str
    url: str
    title: str
    detected_at: datetime
    summary: str = ""
    content: str = ""                  # sanitised HTML, absolute links
    published_at: datetime | None = None
    published_raw: str = ""            # the upstream date text, as found
    date_problem: str | None = None    # why that text was not understood (English, for logs); then the
                                       # deadline is anchored on detection and the delay reason says so
    origin: str = ""                   # site to credit, e.g. 中国政府网
    authority: str = ""                # 国务院办公厅, 省政府办公厅 ...
    rule: str = ""                     # which must-reprint rule matched
    canonical_url: str = ""
    content_hash: str = ""
    images: tuple[str, ...] = ()       # absolute URLs of body images, in order
    id: int | None = None
    version: int = 1                   # bumped when the title or body changes upstream
    keys: tuple[str, ...] = ()         # identity beyond the URL: "guid:…", "doc:<文号>" (feeds.identity)
    substantive: bool = True           # body long and specific enough for its hash to identify the document
    truncated: tuple[tuple[str, int], ...] = ()   # (field, original length) cut by content_limits
    detection_health: str | None = None  # a late-detected tracked item: the source's state meanwhile
    detection_note: str | None = None    # (syndicator.anchors.detection_health), quoted in delay reasons


@dataclass(frozen=True, slots=True)
class UnitRef:
    """The unit (单位) a delivery is for, as channels need to see it."""

    id: str
    name: str


@dataclass(slots=True)
class Delivery:
    item_id: int
    unit_id: str
    account_id: str
    channel_kind: str
    deadline_at: datetime
    idempotency_key: str
    state: DeliveryState = DeliveryState.PENDING
    deadline_provisional: bool = False
    attempts: int = 0
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    external_id: str | None = None
    external_url: str | None = None
    last_error: str | None = None
    note: str | None = None
    possible_duplicate: bool = False
    ambiguous: bool = False          # last attempt's outcome unknown: reconcile before resending
    claimed_by: str | None = None
    id: int | None = None
    claim_gen: int = 0               # with claimed_by, the fencing token of the current claim
    attempt_id: int | None = None    # the attempt this claim opened (set by the claim itself)
    claimed_at: datetime | None = None
    verify_state: str | None = None  # live verification (syndicator.verify): None = never checked


@dataclass(frozen=True, slots=True)
class DelayRecord:
    delivery_id: int
    kind: DelayKind
    recorded_at: datetime
    reason: str                         # Simplified Chinese, for inspectors (rendered from kind and causes)
    late_clock_hours: float = 0.0
    late_working_hours: float = 0.0
    unit_id: str = ""
    account_id: str = ""
    channel_kind: str = ""
    item_title: str = ""
    deadline_at: datetime | None = None
    id: int | None = None
    delivery_state: str = ""            # the delivery's state now (when read back from the store)
    source_id: str = ""
    causes: tuple[DelayCause, ...] = ()  # the facts behind ``reason``; one LEGACY cause for a record from before


@dataclass(slots=True)
class SourceHealth:
    source_id: str
    next_check_at: datetime | None = None
    consecutive_errors: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None
    failing_since: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    items_seen: int = 0
    polls: int = 0                               # successful polls so far
    last_listed: int | None = None               # entries listed on the last read of a changed body
    ever_listed: bool = False                    # any read ever listed an entry
    empty_since: datetime | None = None          # in the "empty" health state since (syndicator.source_empty)
    empty_reason: str | None = None              # why, in Chinese
    extra: dict[str, str] = field(default_factory=dict)


def idempotency_key(item_ref: str, unit_id: str, account_id: str) -> str:
    """Stable key for one item on one unit's account; sent to platforms that accept one."""
    raw = f"{item_ref}\x1f{unit_id}\x1f{account_id}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]
